"""An SVG logo is a picture and nothing more: every way to run code or reach out is refused.

The refused forms include the security audit's reproductions (a prefixed script, an
`onload`, a `javascript:` link, images and style sheets fetched from internal
addresses and local files); real logos as Inkscape, Illustrator and matplotlib
write them are accepted.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from uuid import uuid4

import pytest
from matplotlib.figure import Figure

from herald.services.scheduler import commands
from herald.shared.contract import svg
from herald.shared.contract.messages import CommandRejected, LogoUpload

LOGOS = Path(__file__).parent.parent / "logos"
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
NS = f'xmlns="{SVG_NS}"'
XLINK = f'xmlns:xlink="{XLINK_NS}"'
PNG_URI = "data:image/png;base64,iVBORw0KGgo="


def upload(data: bytes) -> LogoUpload:
    return LogoUpload.model_validate(
        {"filename": "logo.svg", "content_type": "image/svg+xml", "data": base64.b64encode(data)}
    )


REFUSED = {
    # The audit's svg_script_check.py.
    "onload on the root": f'<svg {NS} onload="alert(document.domain)"/>',
    "a script under a prefix": (
        f'<svg {NS} xmlns:s="http://www.w3.org/2000/svg"><s:script>alert(1)</s:script></svg>'
    ),
    "a javascript: link under a prefix": (
        f'<svg {NS} xmlns:x="http://www.w3.org/1999/xlink">'
        '<a x:href="javascript:alert(1)"><text y="20">logo</text></a></svg>'
    ),
    "a script": f"<svg {NS}><script>alert(1)</script></svg>",
    # The audit's svg_ssrf.py and evil-logo.svg.
    "images and a style sheet from elsewhere": f"""<svg {NS} {XLINK} width="200" height="50">
<image href="http://127.0.0.1:18999/ssrf-from-svg-logo" width="10" height="10"/>
<image xlink:href="file:///tmp/audit-sec/secret.png" x="20" width="40" height="40"/>
<style>@import url("http://127.0.0.1:18999/ssrf-css-import");</style>
</svg>""",
    "the cloud metadata address": (
        f'<svg {NS} {XLINK}><image href="http://169.254.169.254/latest/meta-data/iam/'
        'security-credentials/" width="10" height="10"/>'
        '<image xlink:href="file:///work/main/deploy/local/demo-logo.png"/></svg>'
    ),
    # Active elements, whatever their case or prefix.
    "a foreignObject with HTML": (
        f'<svg {NS}><foreignObject><iframe xmlns="http://www.w3.org/1999/xhtml" '
        'src="http://example.com/"/></foreignObject></svg>'
    ),
    "an XHTML script": (
        f'<svg {NS} xmlns:h="http://www.w3.org/1999/xhtml"><h:script>alert(1)</h:script></svg>'
    ),
    "an SVG Tiny handler": f'<svg {NS}><handler type="text/ecmascript">alert(1)</handler></svg>',
    "an embed": f'<svg {NS}><embed src="data:text/html,x"/></svg>',
    "an object": f'<svg {NS}><object data="x.html"/></svg>',
    "an iframe": f"<svg {NS}><iframe/></svg>",
    "an audio": f"<svg {NS}><audio/></svg>",
    "a video": f"<svg {NS}><video/></svg>",
    "an animation setting a link": (
        f'<svg {NS} {XLINK}><a xlink:href="#x"><set attributeName="xlink:href" '
        'to="javascript:alert(1)"/><text>x</text></a></svg>'
    ),
    "an animate": f'<svg {NS}><animate attributeName="href" values="javascript:alert(1)"/></svg>',
    # Event handlers, any case, any prefix.
    "onclick in capitals": f'<svg {NS}><rect ONCLICK="alert(1)"/></svg>',
    "a prefixed event handler": f'<svg {NS} xmlns:e="urn:x"><rect e:onmouseover="x()"/></svg>',
    # Links other than the logo's own fragments and the images it carries.
    "a relative link": f'<svg {NS}><use href="other.svg#a"/></svg>',
    "a link to a site": f'<svg {NS}><a href="https://example.com/"><text>x</text></a></svg>',
    "javascript: with blanks": f'<svg {NS}><a href=" javascript:alert(1)"><text>x</text></a></svg>',
    "a nested SVG as data": (f'<svg {NS}><image href="data:image/svg+xml;base64,PHN2Zy8+"/></svg>'),
    "an HTML page as data": f'<svg {NS}><image href="data:text/html,hi"/></svg>',
    "an XInclude": (
        f'<svg {NS} xmlns:xi="http://www.w3.org/2001/XInclude">'
        '<xi:include href="file:///etc/passwd" parse="text"/></svg>'
    ),
    # CSS, however it is written.
    "@import of a string": f'<svg {NS}><style>@import "http://example.com/a.css";</style></svg>',
    "@import in capitals": f"<svg {NS}><style>@IMPORT url(http://example.com/a.css);</style></svg>",
    "@import escaped": f'<svg {NS}><style>@\\69mport "a.css";</style></svg>',
    "url() in a style element": (
        f"<svg {NS}><style>.a{{fill:url(http://example.com/g.svg#g)}}</style></svg>"
    ),
    "url() escaped": f"<svg {NS}><style>.a{{fill:\\75rl(http://example.com/)}}</style></svg>",
    "url() in CDATA": (
        f"<svg {NS}><style><![CDATA[.a{{background:url('file:///etc/passwd')}}]]></style></svg>"
    ),
    "a web font": (
        f"<svg {NS}><style>@font-face{{font-family:x;src:url(https://example.com/f.woff)}}"
        "</style></svg>"
    ),
    "image-set()": (
        f'<svg {NS}><style>.a{{fill:image-set("http://example.com/a.png" 1x)}}</style></svg>'
    ),
    "url() in a style attribute": (
        f'<svg {NS}><rect style="fill:url(http://169.254.169.254/)"/></svg>'
    ),
    "url() in a presentation attribute": f'<svg {NS}><rect fill="url(https://example.com/#g)"/></svg>',
    "a style sheet instruction": (f'<?xml-stylesheet href="http://example.com/a.css"?><svg {NS}/>'),
    # Declarations: entities are how XML bombs and file reads start.
    "an external entity": (
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        f"<svg {NS}><text>&x;</text></svg>"
    ),
    "a billion laughs": (
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        f"<svg {NS}><text>&b;</text></svg>"
    ),
    "an entity of an external DTD": (
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">'
        f"<svg {NS}><text>&nbsp;</text></svg>"
    ),
    # The review's: an element in a style cut the sheet, and its first part went unread,
    # while WeasyPrint reads that part as the sheet (and fetched the font it names).
    "a font from elsewhere before an element in a style": (
        f"<svg {NS}><style>@font-face{{font-family:x;"
        "src:url(http://169.254.169.254/latest/meta-data/f.ttf)}} text{{font-family:x}}"
        '<style/></style><text y="9">A</text></svg>'
    ),
    # Illustrator's "Preserve Illustrator Editing Capabilities": its private data travels
    # in entities and a foreignObject; exported without it ("Export As") it is accepted.
    "Illustrator's editing data": """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd" [
	<!ENTITY ns_ai "http://ns.adobe.com/AdobeIllustrator/10.0/">
	<!ENTITY ns_pdf "http://ns.adobe.com/pdf/1.3/">
]>
<svg version="1.1" xmlns:i="&ns_ai;" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">
<switch><foreignObject requiredExtensions="&ns_ai;"><i:pgfRef/></foreignObject></switch>
</svg>""",
}


@pytest.mark.parametrize("document", REFUSED.values(), ids=REFUSED.keys())
def test_what_could_run_or_reach_out_is_refused(document: str) -> None:
    with pytest.raises(ValueError, match="unsafe SVG logo"):
        upload(document.encode())


@pytest.mark.parametrize(
    ("document", "named"),
    [
        (f'<svg {NS} onload="alert(1)"/>', "onload= on <svg> (line 1)"),
        (f"<svg {NS}>\n<s:script xmlns:s='{SVG_NS}'/></svg>", "<s:script> (line 2)"),
        (f"<svg {NS} xmlns:x='{XLINK_NS}'><a x:href='javascript:1'/></svg>", 'x:href="javas'),
        (f"<svg {NS}><style>\n.a{{fill:\\75rl(http://h/)}}</style></svg>", "url(http://h/) in a"),
        (f"<svg {NS}><style>@import 'a.css';</style></svg>", "@import in a style"),
    ],
)
def test_the_refusal_names_what_and_where(document: str, named: str) -> None:
    with pytest.raises(ValueError, match="unsafe SVG logo") as refused:
        upload(document.encode())
    assert named in str(refused.value)


def test_a_refusal_names_five_problems_and_counts_the_rest() -> None:
    rects = "".join(f'<rect onclick="{n}"/>' for n in range(8))
    with pytest.raises(ValueError, match="and 3 more"):
        upload(f"<svg {NS}>{rects}</svg>".encode())


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"<svg", "not well-formed XML"),
        (b"GIF89a", "not well-formed XML"),
        (b'<html xmlns="http://www.w3.org/1999/xhtml"><svg/></html>', "root element is not <svg>"),
        (b"<?xml version='1.0'?><!-- only a comment -->", "not well-formed XML"),
        (f"<svg {NS}><g></svg>".encode(), "mismatched tag"),
    ],
)
def test_what_is_no_svg_at_all_is_refused_as_such(data: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=f"data is not a image/svg\\+xml image: .*{why}"):
        upload(data)


def test_a_refused_logo_is_a_field_error_of_the_command() -> None:
    command = {
        "type": "ChangeTenantSettings",
        "command_id": str(uuid4()),
        "tenant_id": "acme",
        "schedule_id": "tenant-settings",
        "branding": {
            "platform_name": "Acme",
            "platform_base_url": "https://acme.example",
            "logo_upload": {
                "filename": "logo.svg",
                "content_type": "image/svg+xml",
                "data": base64.b64encode(REFUSED["a script under a prefix"].encode()).decode(),
            },
        },
    }
    rejected = commands.parse(json.dumps(command).encode(), b"tenant-settings")
    assert isinstance(rejected, CommandRejected)
    (error,) = rejected.errors
    assert (error.field, error.code) == ("branding.logo_upload", "value_error")
    assert error.message.startswith("unsafe SVG logo")
    assert "<s:script> (line 1)" in error.message


@pytest.mark.parametrize("name", ["inkscape.svg", "illustrator.svg", "illustrator-export.svg"])
def test_logos_as_drawing_programs_save_them_are_accepted(name: str) -> None:
    data = (LOGOS / name).read_bytes()
    assert svg.problems(data) == []
    assert upload(data).data == data


def test_an_svg_drawn_by_matplotlib_is_accepted() -> None:
    figure = Figure(figsize=(2, 0.5))
    figure.text(0.1, 0.3, "Acme", color="#2f5d8a", fontsize=20)
    figure.add_axes((0.7, 0.1, 0.25, 0.8)).bar([0, 1, 2], [3, 1, 2], color="#5b8fc2")
    out = io.BytesIO()
    figure.savefig(out, format="svg")
    assert b"<!DOCTYPE svg" in out.getvalue()  # a bare DOCTYPE is read, never fetched
    assert svg.problems(out.getvalue()) == []


@pytest.mark.parametrize(
    "document",
    [
        f"<svg {NS}/>",
        f"\ufeff<svg {NS} viewBox='0 0 1 1'><rect width='1' height='1'/></svg>",
        f'<svg {NS} {XLINK}><image xlink:href=" {PNG_URI}"/><use href="#a"/></svg>',
        f'<svg {NS}><image href="data:image/JPEG;base64,/9j/"/><image href="data:image/gif,"/>'
        "</svg>",
        f"<svg {NS}><style>.a{{fill:url(#g);background:url('{PNG_URI}')}}</style></svg>",
        f'<svg {NS}><rect style="fill:url( #g )" clip-path="url(#c)" transform="rotate(5)"/></svg>',
        f'<svg {NS}><text font-family="Acme (Bold)">on it @home</text></svg>',
        f'<svg {NS}><rect opacity="0.5" offset="1"/></svg>',
    ],
)
def test_what_only_draws_is_accepted(document: str) -> None:
    assert svg.problems(document.encode()) == []


def test_an_svg_in_utf16_is_read_as_such() -> None:
    document = f"<?xml version='1.0' encoding='UTF-16'?><svg {NS}><script/></svg>"
    assert svg.problems(document.encode("utf-16")) == ["<script> (line 1)"]
