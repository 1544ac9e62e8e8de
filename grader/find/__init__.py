"""Stage 1, find: which file of a submission to run (a folder, a .py, a notebook, a .zip), read with ``ast``, never imported."""
