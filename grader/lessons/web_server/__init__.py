"""The lesson "Internet - Web Server".

A Flask home page, a JSON API of people, and CORS for a page on another origin.
"""
