"""A notebook as a standalone HTML page: math rendered by a local MathJax copy (no network), accessible colours
and links, assistive MathML for screen readers."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from .. import validate
from .summary import _notebook, describe

MATHJAX_DIR = "mathjax"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"


def _depth(depth) -> int:
    return validate.integer("depth", depth, 0, 100)


def mathjax_source() -> Path | None:
    """The MathJax 2.7 folder shipped by the ``jupyter-server-mathjax`` package, or None when it is missing."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        return None
    d = Path(jupyter_server_mathjax.__file__).parent / "static"
    return d if (d / "MathJax.js").is_file() else None


def install_mathjax(out) -> bool:
    """Copy MathJax into ``out/mathjax`` (once); False (pages then fall back to the CDN) when it is not installed."""
    src, dest = mathjax_source(), validate.path("out", out, kind="dir") / MATHJAX_DIR
    if src is None:
        print("note: jupyter-server-mathjax is not installed; the pages load MathJax from the internet")
        return False
    if not (dest / "MathJax.js").is_file():
        # other languages' menus and the SVG output are never used by these pages: 5 MB less to copy
        shutil.copytree(src, dest, dirs_exist_ok=True,
                        ignore=lambda d, names: [n for n in names if (Path(d).name == "localization" and n != "en")
                                                 or (Path(d).name == "output" and n == "SVG")])
    return True


def mathjax_url(depth: int = 0) -> str:
    """The MathJax URL for a page ``depth`` folders below the build folder (the CDN when no local copy exists)."""
    depth = _depth(depth)
    if mathjax_source() is None:
        return f"https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/latest.js?config={MATHJAX_CONFIG}"
    return "../" * depth + f"{MATHJAX_DIR}/MathJax.js?config={MATHJAX_CONFIG}"


# jupyter-server-mathjax ships the STIX web fonts only: say so, or MathJax first asks for its TeX fonts (404s)
_FONTS = ("<script type='text/x-mathjax-config'>MathJax.Hub.Config({'HTML-CSS': {availableFonts: [], "
          "webFont: 'STIX-Web', imageFont: null}});</script>")


def _mathjax_head(depth: int = 0) -> str:
    # the same configuration as nbconvert's pages: $...$ inline, $$...$$ displayed
    return (f"<script src='{mathjax_url(depth)}'></script><script type='text/x-mathjax-config'>"
            "MathJax.Hub.Config({tex2jax: {inlineMath: [['$','$'], ['\\\\(','\\\\)']], displayMath: [['$$','$$'], "
            "['\\\\[','\\\\]']], processEscapes: true}, messageStyle: 'none'});</script>" + _ASSISTIVE
            + (_FONTS if mathjax_source() is not None else ""))


def notebook_html(nb, depth: int = 0) -> str:
    """A notebook as a standalone HTML page whose math renders offline (see :func:`install_mathjax`), titled by
    its first heading, readable by everyone: :data:`A11Y_CSS` (contrast of code and prompts, underlined links,
    captions) and MathJax's assistive MathML (every formula also as MathML for screen readers)."""
    from nbconvert import HTMLExporter

    nb, depth = _notebook("nb", nb), _depth(depth)
    title = describe(nb)["title"]
    resources = {"metadata": {"name": f"collapse-lab: {title}" if title else "collapse-lab"}}
    body, _ = HTMLExporter(mathjax_url=mathjax_url(depth)).from_notebook_node(nb, resources=resources)
    # require.js (from a CDN) only serves live widgets, which a built page never has (COLLAPSE_LAB_STATIC=1):
    # without it the page loads nothing from the internet
    body = re.sub(r"<script[^>]*src=\"https://[^\"]*/require(\.min)?\.js\"[^>]*>\s*</script>\n?", "", body)
    head = f"<style>{A11Y_CSS}</style>" + _ASSISTIVE + (_FONTS if mathjax_source() is not None else "")
    return body.replace("</head>", head + "\n</head>", 1)


#: CSS added to every notebook page: nbconvert's light theme has code colours, prompts and links below the WCAG AA
#: contrast of 4.5:1 (on the code background #f5f5f5), and links told from text by colour alone. Each colour below
#: is the theme's own, darkened until it reaches 4.8:1 on #f5f5f5 (tests/browser/run.py checks pages with axe-core).
A11Y_CSS = """
:root{--jp-mirror-editor-atom-color:#5050ff;--jp-mirror-editor-bracket-color:#6d6d52;
--jp-mirror-editor-builtin-color:#007b00;--jp-mirror-editor-comment-color:#397272;
--jp-mirror-editor-error-color:#db0000;--jp-mirror-editor-hr-color:#6b6b6b;--jp-mirror-editor-keyword-color:#007b00;
--jp-mirror-editor-meta-color:#a008ff;
--jp-mirror-editor-number-color:#007e00;--jp-mirror-editor-operator-color:#a008ff;
--jp-mirror-editor-quote-color:#007a00;
--jp-cell-inprompt-font-color:#2a6fa8;--jp-cell-outprompt-font-color:#a85036;--jp-cell-prompt-not-active-opacity:1;
--jp-cell-prompt-not-active-font-color:#555}
a,.jp-RenderedHTMLCommon a:link,.jp-RenderedHTMLCommon a:visited{text-decoration:underline}
.jp-InputPrompt,.jp-OutputPrompt{opacity:1}
figure.collapse-lab-figure figcaption{font-size:.9em;color:#333}
figure.collapse-lab-figure summary{cursor:pointer;color:#2a4d6e}
"""

# MathJax 2.7's assistive MathML: every typeset formula also as hidden MathML that screen readers read (on by
# default in 2.7; said here so a user setting or a future default cannot turn it off for these pages)
_ASSISTIVE = ("<script type='text/x-mathjax-config'>MathJax.Hub.Config({menuSettings: {assistiveMML: true}, "
              "AssistiveMML: {disabled: false}});</script>")
