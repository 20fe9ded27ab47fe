"""The Jinja2 templates of the pages, shipped inside the package as `wallboard.templates`."""
