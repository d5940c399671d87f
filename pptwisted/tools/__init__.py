"""
pptwisted's tools, built on the library and never imported by it:
C{twist proxy-whoami} (L{whoami}), C{twist proxy-relay} (L{relay}),
C{python -m pptwisted.probe} (L{probe}), and their report and command-line
helpers.
"""
