"""Standard-library parsing workload for scripts/test-real-programs.sh.

Generates XML, e-mail messages, CSV, HTML, JSON and text in memory, parses
them back with the standard library (xml.etree, xml.dom.minidom, email,
csv, html.parser, difflib, pickle, zlib/bz2/lzma, decimal, fractions,
sqlite3, ...) and prints deterministic checksums.  Ends with a small
multiprocessing pool (fork start method) so that forked children of a
preloaded, already-warm process are exercised too.

Run with PYTHONMALLOC=malloc PYTHONHASHSEED=0.
"""

import base64
import bz2
import csv
import decimal
import difflib
import email.policy
import fractions
import hashlib
import html
import html.parser
import io
import lzma
import multiprocessing
import pickle
import random
import sqlite3
import statistics
import sys
import textwrap
import urllib.parse
import xml.dom.minidom
import xml.etree.ElementTree as ET
import zlib
from email.message import EmailMessage
from email.parser import BytesParser


def h(data) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()[:16]


def out(*parts):
    print(*parts, flush=True)


def section_xml(rng: random.Random) -> None:
    root = ET.Element("catalog", {"version": "1.0"})
    for i in range(12_000):
        book = ET.SubElement(root, "book", id=f"bk{i:05d}", lang=rng.choice(["en", "fr", "de"]))
        ET.SubElement(book, "title").text = f"Title {i} " + "x" * (i % 17)
        ET.SubElement(book, "author").text = rng.choice(["Ann", "Bob", "Cy", "Dee", "Eve"]) + f" {i % 101}"
        ET.SubElement(book, "price", currency="EUR").text = f"{rng.randint(100, 9999) / 100:.2f}"
        tags = ET.SubElement(book, "tags")
        for t in range(i % 5):
            ET.SubElement(tags, "tag").text = f"t{(i * t) % 37}"
        if i % 7 == 0:
            ET.SubElement(book, "note").text = "<escaped & \"quoted\">"
    data = ET.tostring(root, encoding="utf-8")

    parsed = ET.fromstring(data)
    prices = [float(p.text) for p in parsed.iter("price")]
    by_lang: dict[str, int] = {}
    for b in parsed.findall("book"):
        by_lang[b.get("lang")] = by_lang.get(b.get("lang"), 0) + 1
    notes = len(parsed.findall(".//note"))
    tag_count = sum(1 for _ in parsed.iterfind("book/tags/tag"))
    for b in parsed.findall("book[@lang='de']"):
        parsed.remove(b)
    re_ser = ET.tostring(parsed, encoding="utf-8")

    events = 0
    depth_max = depth = 0
    for ev, _el in ET.iterparse(io.BytesIO(data), events=("start", "end")):
        events += 1
        depth = depth + 1 if ev == "start" else depth - 1
        depth_max = max(depth_max, depth)

    small = data[: data.index(b"</book>", 200_000) + 7] + b"</catalog>"
    dom = xml.dom.minidom.parseString(small)
    pretty = dom.toprettyxml(indent=" ")
    out("xml", len(data), h(data), f"{sum(prices):.2f}", sorted(by_lang.items()), notes, tag_count,
        len(re_ser), events, depth_max, len(dom.getElementsByTagName("book")), h(pretty))


def section_email(rng: random.Random) -> None:
    blobs = []
    for i in range(1500):
        msg = EmailMessage()
        msg["From"] = f"Sender {i} <sender{i}@example.org>"
        msg["To"] = ", ".join(f"rcpt{j}@example.net" for j in range(i % 4 + 1))
        msg["Subject"] = f"Report #{i}: " + rng.choice(["naïve café", "status", "Grüße", "hello world"])
        msg["Date"] = f"Mon, {1 + i % 28:02d} Jan 2024 12:{i % 60:02d}:00 +0000"
        msg["Message-ID"] = f"<{i}.{rng.randrange(10**9)}@example.org>"
        body = "\n".join(f"Line {k} of message {i}: " + "lorem ipsum " * (k % 5) for k in range(30))
        msg.set_content(body)
        if i % 3 == 0:
            msg.add_alternative(f"<html><body><p>{html.escape(body)}</p></body></html>", subtype="html")
        if i % 5 == 0:
            msg.add_attachment(bytes(rng.randrange(256) for _ in range(2000)), maintype="application",
                               subtype="octet-stream", filename=f"data{i}.bin")
        blobs.append(msg.as_bytes())

    parser = BytesParser(policy=email.policy.default)
    subjects = 0
    attach_bytes = 0
    parts = 0
    text_len = 0
    for blob in blobs:
        m = parser.parsebytes(blob)
        subjects += len(m["Subject"])
        for part in m.walk():
            parts += 1
            if part.get_filename():
                attach_bytes += len(part.get_content())
        text_len += len(m.get_body(preferencelist=("plain",)).get_content())
    out("email", len(blobs), sum(map(len, blobs)), subjects, parts, attach_bytes, text_len)


def section_csv_html(rng: random.Random) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["id", "name", "city", "amount", "comment"])
    w.writeheader()
    for i in range(40_000):
        w.writerow({"id": i, "name": f"n{rng.randrange(10**5)}", "city": rng.choice(["Oslo", "Lyon", "Köln", "Porto"]),
                    "amount": f"{rng.uniform(-500, 500):.2f}", "comment": 'has "quotes", commas' if i % 9 == 0 else ""})
    text = buf.getvalue()
    rows = list(csv.DictReader(io.StringIO(text)))
    per_city: dict[str, decimal.Decimal] = {}
    for r in rows:
        per_city[r["city"]] = per_city.get(r["city"], decimal.Decimal(0)) + decimal.Decimal(r["amount"])

    class Collector(html.parser.HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: dict[str, int] = {}
            self.text = 0
            self.links: list[str] = []

        def handle_starttag(self, tag, attrs):
            self.tags[tag] = self.tags.get(tag, 0) + 1
            for k, v in attrs:
                if k == "href":
                    self.links.append(v)

        def handle_data(self, data):
            self.text += len(data)

    page = ["<html><head><title>gen</title></head><body><table>"]
    for r in rows[:8000]:
        q = urllib.parse.urlencode({"id": r["id"], "city": r["city"]})
        page.append(f"<tr><td>{html.escape(r['name'])}</td><td><a href=\"/x?{q}\">{html.escape(r['comment'])}</a></td></tr>")
    page.append("</table></body></html>")
    c = Collector()
    c.feed("".join(page))
    c.close()
    qs = [urllib.parse.parse_qs(urllib.parse.urlsplit(u).query) for u in c.links]
    out("csv", len(text), len(rows), sorted((k, str(v)) for k, v in per_city.items()))
    out("html", sorted(c.tags.items()), c.text, len(c.links), sum(int(q["id"][0]) for q in qs))


def section_text_tools(rng: random.Random) -> None:
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    a = [" ".join(rng.choices(words, k=8)) for _ in range(6000)]
    b = list(a)
    for _ in range(600):
        i = rng.randrange(len(b))
        op = rng.randrange(3)
        if op == 0:
            del b[i]
        elif op == 1:
            b.insert(i, " ".join(rng.choices(words, k=5)))
        else:
            b[i] = b[i].replace("a", "A")
    diff = list(difflib.unified_diff(a, b, "a", "b", lineterm="", n=2))
    ratio = difflib.SequenceMatcher(None, a[:400], b[:400]).ratio()
    wrapped = textwrap.fill(" ".join(a[:3000]), width=61)

    obj = {"rows": [(i, str(i) * 3, [i] * (i % 7), {"k": i}) for i in range(40_000)], "f": fractions.Fraction(1, 3)}
    pk = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    assert pickle.loads(pk) == obj
    raw = "\n".join(a).encode() * 4
    z = zlib.compress(raw, 9)
    bz = bz2.compress(raw, 9)
    xz = lzma.compress(raw, preset=6)
    assert zlib.decompress(z) == raw and bz2.decompress(bz) == raw and lzma.decompress(xz) == raw
    b64 = base64.b64encode(z)

    decimal.getcontext().prec = 60
    dsum = sum(decimal.Decimal(1) / decimal.Decimal(k) for k in range(1, 3000))
    fsum = sum(fractions.Fraction(1, k * k) for k in range(1, 400))
    nums = [rng.gauss(0, 1) for _ in range(50_000)]
    out("text-tools", len(diff), h("\n".join(diff)), f"{ratio:.6f}", h(wrapped), h(pk), len(z), len(bz), len(xz),
        h(b64), str(dsum)[:40], str(fsum.limit_denominator(10**12)),
        f"{statistics.fmean(nums):.9f}", f"{statistics.pstdev(nums):.9f}", f"{statistics.median(nums):.9f}")


def section_sqlite(rng: random.Random) -> None:
    con = sqlite3.connect(":memory:")
    con.execute("create table t(id integer primary key, grp text, val real, payload text)")
    con.executemany("insert into t(grp, val, payload) values (?, ?, ?)",
                    ((f"g{rng.randrange(50)}", rng.random(), "p" * rng.randrange(100)) for _ in range(60_000)))
    con.execute("create index t_grp on t(grp)")
    rows = con.execute("select grp, count(*), round(sum(val), 6), sum(length(payload)) from t group by grp order by grp").fetchall()
    con.execute("delete from t where id % 3 = 0")
    left = con.execute("select count(*) from t").fetchone()[0]
    con.close()
    out("sqlite-module", h(repr(rows)), left)


def pool_task(n: int) -> tuple[int, str]:
    rng = random.Random(n)
    d = {i: [rng.random() for _ in range(20)] for i in range(3000)}
    s = sorted(d, key=lambda k: sum(d[k]))
    return n, h(repr(s[:100]))


def section_multiprocessing() -> None:
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        res = pool.map(pool_task, range(12))
    out("multiprocessing", h(repr(res)))


def main() -> int:
    rng = random.Random(77)
    section_xml(rng)
    section_email(rng)
    section_csv_html(rng)
    section_text_tools(rng)
    section_sqlite(rng)
    section_multiprocessing()
    out("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
