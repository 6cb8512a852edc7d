#!/usr/bin/env python3
"""Check the Grafana dashboard against a real exposition.

    check_dashboard.py DASHBOARD.json EXPOSITION.txt [RULES.yml]

The dashboard must parse as JSON; every panel (rows aside) must have at
least one query; every metric name a query (or a template variable) reads
must be a sample name in the exposition written by fusebox's Prometheus
writer (scripts/test.d/30-monitoring.sh generates it). Exits 1 naming each
panel and metric that fails. With RULES.yml, every query is also written
there as a recording rule (dashboard variables replaced by plain values),
for `promtool check rules` to parse the PromQL.
"""
import json
import re
import sys

# PromQL words that look like identifiers but are no metric.
NOT_METRICS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset",
    # aggregation operators (`sum by (x) (...)`: not followed by `(`)
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
    "count_values", "bottomk", "topk", "quantile",
}
IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr):
    """Metric names in a PromQL expression: identifiers outside strings,
    label matchers and grouping lists, not followed by `(` (a function)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "{}", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", expr)
    expr = re.sub(r"\[[^\]]*\]", "[]", expr)  # ranges
    expr = re.sub(r"\$\{?[a-zA-Z_]+\}?", "", expr)  # dashboard variables
    names = []
    for m in IDENT.finditer(expr):
        word, rest = m.group(0), expr[m.end():].lstrip()
        if word in NOT_METRICS or rest.startswith("("):
            continue
        if re.fullmatch(r"[0-9.eE+-]+", word):
            continue
        names.append(word)
    return names


def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))


def write_rules(path, queries):
    """Each query as a recording rule; JSON strings are valid YAML."""
    with open(path, "w") as f:
        f.write("groups:\n  - name: dashboard\n    rules:\n")
        for i, (_, expr) in enumerate(queries):
            expr = expr.replace("$__rate_interval", "5m").replace("$breaker", ".*")
            f.write(f"      - record: dashboard:query{i}\n        expr: {json.dumps(expr)}\n")


def main(dashboard_path, exposition_path, rules_path=None):
    with open(dashboard_path) as f:
        dashboard = json.load(f)
    with open(exposition_path) as f:
        exposed = {
            line.split("{")[0].split(" ")[0]
            for line in f
            if line.strip() and not line.startswith("#")
        }
    errors, checked = [], 0
    queries = []
    for p in panels(dashboard["panels"]):
        if p["type"] == "row":
            continue
        targets = [t["expr"] for t in p.get("targets", []) if t.get("expr")]
        if not targets:
            errors.append(f"panel {p['title']!r}: no query")
        queries += [(f"panel {p['title']!r}", e) for e in targets]
    for v in dashboard.get("templating", {}).get("list", []):
        q = v.get("definition")
        if v.get("type") == "query" and q:
            m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q)
            queries.append((f"variable {v['name']!r}", m.group(1) if m else q))
    for where, expr in queries:
        names = metric_names(expr)
        if not names:
            errors.append(f"{where}: no metric in {expr!r}")
        for name in names:
            checked += 1
            if name not in exposed:
                errors.append(f"{where}: {name} is not in the exposition ({expr!r})")
    if rules_path:
        write_rules(rules_path, queries)
    for e in errors:
        print(f"{dashboard_path}: {e}", file=sys.stderr)
    if errors:
        return 1
    print(f"{dashboard_path}: {len(queries)} queries, {checked} metric names, all exposed")
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
