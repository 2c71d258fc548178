"""Local Sphinx fixes for the book (loaded through ``sphinx: local_extensions`` in _config.yml).

One fix: Sphinx 7.4 emits an inline ``<script>`` registered after builder init (sphinx-thebe's
``const THEBE_JS_URL = ...``) twice per page, and the second copy throws "Identifier 'THEBE_JS_URL' has
already been declared" in every browser. Drop exact duplicates from the page's script list.
"""


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for js in context.get("script_files", []):
        # the two copies differ only in filename None vs '' (an inline script's body is an attribute)
        key = (getattr(js, "filename", js) or "", repr(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    if "script_files" in context:
        context["script_files"][:] = unique


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=1)   # first: emit_firstresult stops at a handler that returns a template
    return {"parallel_read_safe": True, "parallel_write_safe": True}
