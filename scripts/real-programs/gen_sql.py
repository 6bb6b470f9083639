"""Write the SQL script of the sqlite3 workload to stdout.

Deterministic (fixed seed).  The script creates a small shop schema, inserts
~150k rows as literal INSERT statements in transactions (so the sqlite3 CLI
parses and prepares them all) plus ~240k more rows generated with recursive
CTEs, builds indexes, runs joins / aggregates / window functions / recursive
CTEs / JSON and FTS5 queries, updates and deletes rows, VACUUMs and checks
integrity.  Every query has a total ORDER BY, so the output is identical from
run to run.

This script runs without LD_PRELOAD: it only prepares input for sqlite3.
"""

import random
import sys


def q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def main() -> int:
    rng = random.Random(4242)
    w = sys.stdout.write
    first = ["Ada", "Linus", "Grace", "Ken", "Barbara", "Dennis", "Frances", "Edsger", "Radia", "Niklaus",
             "Margaret", "Donald", "Anita", "John", "Sophie", "Bjarne"]
    last = ["Lovelace", "Torvalds", "Hopper", "Thompson", "Liskov", "Ritchie", "Allen", "Dijkstra", "Perlman",
            "Wirth", "Hamilton", "Knuth", "Borg", "O'Neil", "Wilson", "Stroustrup"]
    cities = ["Oslo", "Lyon", "Porto", "Graz", "Turku", "Gent", "Brno", "Cork", "Bern", "Pisa"]
    words = ("fast slab arena compact thread local lock free cache page huge tiny small medium large "
             "red blue green steel wood glass paper stone silver golden").split()

    w(".bail on\n.headers on\n.mode list\n.separator |\n")
    w("PRAGMA journal_mode = DELETE;\nPRAGMA foreign_keys = ON;\nPRAGMA cache_size = -8000;\n")
    w("""
CREATE TABLE category(id INTEGER PRIMARY KEY, parent INTEGER REFERENCES category(id), name TEXT NOT NULL);
CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL, email TEXT UNIQUE,
                      joined TEXT NOT NULL, meta TEXT);
CREATE TABLE product(id INTEGER PRIMARY KEY, category INTEGER NOT NULL REFERENCES category(id),
                     title TEXT NOT NULL, description TEXT NOT NULL, price_cents INTEGER NOT NULL);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER NOT NULL REFERENCES customer(id),
                    day TEXT NOT NULL, status TEXT NOT NULL);
CREATE TABLE item(order_id INTEGER NOT NULL REFERENCES orders(id), line INTEGER NOT NULL,
                  product INTEGER NOT NULL REFERENCES product(id), qty INTEGER NOT NULL,
                  PRIMARY KEY(order_id, line)) WITHOUT ROWID;
""")

    # category tree: 1 root, 8 children, 5 grandchildren each, 3 great-grandchildren each
    cats = [(1, None, "all")]
    nid = 2
    level = [1]
    for fan in (8, 5, 3):
        nxt = []
        for p in level:
            for _ in range(fan):
                cats.append((nid, p, f"{rng.choice(words)}-{nid}"))
                nxt.append(nid)
                nid += 1
        level = nxt
    leaves = level
    w("BEGIN;\n")
    for cid, parent, name in cats:
        w(f"INSERT INTO category VALUES({cid}, {'NULL' if parent is None else parent}, {q(name)});\n")
    w("COMMIT;\n")

    n_customers, n_products, n_orders = 20_000, 4_000, 120_000
    w("BEGIN;\n")
    for i in range(1, n_customers + 1):
        name = f"{rng.choice(first)} {rng.choice(last)}"
        meta = '{"vip": %s, "score": %d, "tags": ["%s", "%s"]}' % (
            "true" if i % 17 == 0 else "false", rng.randrange(1000), rng.choice(words), rng.choice(words))
        w(f"INSERT INTO customer VALUES({i}, {q(name)}, {q(rng.choice(cities))}, "
          f"{q(f'c{i}@{rng.choice(cities).lower()}.example')}, "
          f"'2023-{1 + i % 12:02d}-{1 + i % 28:02d}', {q(meta)});\n")
    w("COMMIT;\nBEGIN;\n")
    for i in range(1, n_products + 1):
        desc = " ".join(rng.choices(words, k=rng.randint(4, 20)))
        w(f"INSERT INTO product VALUES({i}, {rng.choice(leaves)}, {q(f'{rng.choice(words)} {rng.choice(words)} #{i}')}, "
          f"{q(desc)}, {rng.randint(99, 99_999)});\n")
    w("COMMIT;\n")
    statuses = ["new", "paid", "shipped", "returned", "cancelled"]
    for i in range(1, n_orders + 1):
        if i % 20_000 == 1:
            w("BEGIN;\n")
        w(f"INSERT INTO orders VALUES({i}, {rng.randint(1, n_customers)}, "
          f"'2024-{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d}', '{rng.choice(statuses)}');\n")
        if i % 20_000 == 0:
            w("COMMIT;\n")

    # ~2 items per order, generated inside sqlite with a recursive CTE
    w(f"""
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n_orders * 2})
INSERT INTO item(order_id, line, product, qty)
SELECT (i + 1) / 2, 1 + (i + 1) % 2, 1 + (i * 7919) % {n_products}, 1 + (i * 31) % 5 FROM n;
COMMIT;
CREATE INDEX orders_customer ON orders(customer, day);
CREATE INDEX orders_day ON orders(day);
CREATE INDEX item_product ON item(product);
CREATE INDEX customer_city ON customer(city, name);
CREATE INDEX product_category ON product(category, price_cents);
ANALYZE;

SELECT 'counts' AS section, (SELECT count(*) FROM customer) AS customers, (SELECT count(*) FROM product) AS products,
       (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM item) AS items, (SELECT count(*) FROM category) AS cats;

-- top customers by revenue (3-way join, group by, order by)
SELECT c.id, c.name, c.city, count(DISTINCT o.id) AS n_orders, sum(i.qty * p.price_cents) AS revenue
FROM customer c JOIN orders o ON o.customer = c.id JOIN item i ON i.order_id = o.id JOIN product p ON p.id = i.product
WHERE o.status IN ('paid', 'shipped')
GROUP BY c.id ORDER BY revenue DESC, c.id LIMIT 25;

-- monthly sales with window functions
SELECT month, revenue, sum(revenue) OVER (ORDER BY month) AS running,
       rank() OVER (ORDER BY revenue DESC) AS rnk,
       round(avg(revenue) OVER (ORDER BY month ROWS BETWEEN 2 PRECEDING AND CURRENT ROW), 2) AS moving_avg
FROM (SELECT substr(o.day, 1, 7) AS month, sum(i.qty * p.price_cents) AS revenue
      FROM orders o JOIN item i ON i.order_id = o.id JOIN product p ON p.id = i.product GROUP BY month)
ORDER BY month;

-- per city / status pivot with HAVING
SELECT c.city, o.status, count(*) AS n, min(o.day) AS first_day, max(o.day) AS last_day
FROM orders o JOIN customer c ON c.id = o.customer
GROUP BY c.city, o.status HAVING count(*) > 100 ORDER BY c.city, o.status;

-- recursive CTE over the category tree: full path and subtree revenue
WITH RECURSIVE tree(id, path, depth) AS (
  SELECT id, name, 0 FROM category WHERE parent IS NULL
  UNION ALL
  SELECT c.id, tree.path || '/' || c.name, tree.depth + 1 FROM category c JOIN tree ON c.parent = tree.id
), anc(leaf, ancestor) AS (
  SELECT id, id FROM category
  UNION ALL
  SELECT anc.leaf, c.parent FROM anc JOIN category c ON c.id = anc.ancestor WHERE c.parent IS NOT NULL
)
SELECT tree.depth, tree.path, count(i.qty) AS items, coalesce(sum(i.qty * p.price_cents), 0) AS revenue
FROM tree JOIN anc ON anc.ancestor = tree.id
LEFT JOIN product p ON p.category = anc.leaf LEFT JOIN item i ON i.product = p.id
WHERE tree.depth <= 2
GROUP BY tree.id ORDER BY tree.depth, revenue DESC, tree.path LIMIT 60;

-- recursive CTE: collatz lengths
WITH RECURSIVE collatz(start, n, steps) AS (
  SELECT value, value, 0 FROM generate_series(1, 3000)
  UNION ALL
  SELECT start, CASE WHEN n % 2 = 0 THEN n / 2 ELSE 3 * n + 1 END, steps + 1 FROM collatz WHERE n <> 1
)
SELECT start, max(steps) AS steps FROM collatz GROUP BY start ORDER BY steps DESC, start LIMIT 10;

-- JSON functions
SELECT json_extract(meta, '$.tags[0]') AS tag, count(*) AS n, sum(json_extract(meta, '$.vip')) AS vips,
       round(avg(json_extract(meta, '$.score')), 3) AS avg_score
FROM customer GROUP BY tag ORDER BY n DESC, tag;
SELECT json_group_array(json_object('id', id, 'name', name)) FROM (SELECT id, name FROM customer WHERE id % 997 = 0 ORDER BY id);

-- string functions, LIKE, GLOB, DISTINCT, sort without an index
SELECT upper(substr(name, 1, 3)) AS pfx, count(DISTINCT city) AS cities, count(*) AS n,
       max(length(email)) AS maxlen, printf('%08.3f', avg(id) / 7.0) AS fmt
FROM customer WHERE name LIKE '%o%' OR email GLOB 'c1*' GROUP BY pfx ORDER BY n DESC, pfx;
SELECT title, price_cents FROM product ORDER BY description DESC, price_cents, id LIMIT 15;

-- full-text search
CREATE VIRTUAL TABLE product_fts USING fts5(title, description, content='product', content_rowid='id');
INSERT INTO product_fts(rowid, title, description) SELECT id, title, description FROM product;
SELECT count(*) AS fts_hits FROM product_fts WHERE product_fts MATCH 'slab AND (thread OR arena)';
SELECT rowid, title FROM product_fts WHERE product_fts MATCH 'golden NEAR(page cache, 5)' ORDER BY rowid LIMIT 10;

-- temp tables, updates and deletes
CREATE TEMP TABLE big_spender AS
  SELECT o.customer AS id, sum(i.qty * p.price_cents) AS spent
  FROM orders o JOIN item i ON i.order_id = o.id JOIN product p ON p.id = i.product GROUP BY o.customer;
BEGIN;
UPDATE customer SET meta = json_set(meta, '$.spent', (SELECT spent FROM big_spender b WHERE b.id = customer.id))
  WHERE id IN (SELECT id FROM big_spender WHERE spent > 2000000);
UPDATE product SET price_cents = price_cents * 11 / 10, description = description || ' (updated)'
  WHERE category IN (SELECT id FROM category WHERE name LIKE 'slab%' OR name LIKE 'cache%');
DELETE FROM item WHERE order_id IN (SELECT id FROM orders WHERE status = 'cancelled');
DELETE FROM orders WHERE status = 'cancelled';
UPDATE orders SET status = 'archived' WHERE day < '2024-03-01';
COMMIT;
SELECT status, count(*) FROM orders GROUP BY status ORDER BY status;
SELECT count(*) AS updated_meta FROM customer WHERE json_extract(meta, '$.spent') IS NOT NULL;
SELECT count(*) AS items_left, sum(qty) AS qty_left FROM item;
SELECT count(*) AS updated_products, sum(price_cents) FROM product WHERE description LIKE '%(updated)';
INSERT INTO product_fts(product_fts) VALUES('rebuild');
SELECT count(*) AS fts_updated FROM product_fts WHERE product_fts MATCH 'updated';

VACUUM;
PRAGMA integrity_check;
PRAGMA foreign_key_check;
SELECT 'final', count(*), sum(qty) FROM item;
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
