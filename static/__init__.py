"""The browser files (script, styles), shipped inside the package as `wallboard.static`.

Only files not starting with "_" are served at /static/.
"""
