"""Stage 1, find: which file of a submission to run (a folder, a .py, a notebook, a .zip).

Source is read with ``ast``, never imported: student code runs only in its own process.
"""
