"""A Sphinx extension that writes each inline script of a page once.

sphinx-thebe 0.3.1 registers its inline configuration (``const THEBE_JS_URL = ...``) with
``app.add_js_file(None, body=...)`` while the builder already exists, so Sphinx 7.4 holds it
twice: once as given (file name ``None``) and once re-added from the registry when writing
starts (file name ``""``). The two are not equal, every page got both, and the browser
stopped at the second: "Identifier 'THEBE_JS_URL' has already been declared". This drops an
inline script whose text repeats an earlier one on the same page, and nothing else.
"""

from __future__ import annotations


def drop_repeated_inline_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        body = None if getattr(script, "filename", None) else getattr(
            script, "attributes", {}).get("body")
        if body is not None:
            if body in seen:
                continue
            seen.add(body)
        kept.append(script)
    scripts[:] = kept  # in place: the builder restores its list before the next page


def setup(app):
    # After every other handler, so that scripts added for this page are seen too.
    app.connect("html-page-context", drop_repeated_inline_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
