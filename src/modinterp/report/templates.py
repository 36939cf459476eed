"""The report's HTML template and style sheet, kept in Python so they ship with the package (no package data).

Everything is inline: the page needs no network, no external CSS or JavaScript, and images are data URIs.
"""

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d2327; background: #fafafa; }
header { background: #23303b; color: #fff; padding: 1.2rem 2rem; }
header h1 { margin: 0 0 .3rem 0; font-size: 1.5rem; }
header p { margin: 0; opacity: .85; }
nav { padding: .6rem 2rem; background: #eef1f4; border-bottom: 1px solid #d5dbe1; font-size: .9rem; }
nav a { margin-right: 1.1rem; color: #23528a; text-decoration: none; }
main { padding: 0 2rem 3rem 2rem; max-width: 1400px; }
section { margin-top: 2rem; }
h2 { border-bottom: 2px solid #d5dbe1; padding-bottom: .3rem; font-size: 1.25rem; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e1e5e9; background: #fff; }
figcaption { font-size: .88rem; color: #4a5560; margin-top: .3rem; max-width: 900px; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .88rem; background: #fff; }
th, td { border: 1px solid #d5dbe1; padding: .3rem .6rem; text-align: right; }
th { background: #eef1f4; }
td:first-child, th:first-child { text-align: left; }
caption { caption-side: top; text-align: left; font-size: .88rem; color: #4a5560; padding-bottom: .3rem; }
pre { background: #fff; border: 1px solid #e1e5e9; padding: .8rem; overflow-x: auto; font-size: .8rem; max-height: 32rem; }
.note { color: #4a5560; font-size: .9rem; }
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>{{ style }}</style>
</head>
<body>
<header>
<h1>{{ title }}</h1>
{% if subtitle %}<p>{{ subtitle }}</p>{% endif %}
</header>
<nav>{% for section in sections %}<a href="#{{ section.anchor }}">{{ section.title }}</a>{% endfor %}</nav>
<main>
{% for section in sections %}
<section id="{{ section.anchor }}">
<h2>{{ section.title }}</h2>
{% for block in section.blocks %}
{% if block.kind == "figure" %}
<figure id="fig-{{ block.name }}">
<img src="{{ block.data_uri }}" alt="{{ block.alt or block.caption }}" width="{{ block.width }}" height="{{ block.height }}">
{% if block.caption %}<figcaption>{{ block.caption }}</figcaption>{% endif %}
</figure>
{% elif block.kind == "table" %}
<table>
{% if block.caption %}<caption>{{ block.caption }}</caption>{% endif %}
<thead><tr>{% for column in block.columns %}<th>{{ column }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in block.rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}
</tbody>
</table>
{% elif block.kind == "text" %}
<p class="note">{{ block.text }}</p>
{% elif block.kind == "code" %}
{% if block.folded %}<details><summary>{{ block.caption or "show" }}</summary><pre>{{ block.text }}</pre></details>
{% else %}{% if block.caption %}<p class="note">{{ block.caption }}</p>{% endif %}
<pre>{{ block.text }}</pre>{% endif %}
{% elif block.kind == "html" %}
{{ block.markup }}
{% endif %}
{% endfor %}
</section>
{% endfor %}
</main>
</body>
</html>
"""
