"""Checks that both generated clients hold every operation of the document, and in each
every documented response status: a generator that drops an operation or a response
without saying so fails here too, not only on its warnings (.ci/clients checks those).

    python3 clients/check_generated.py DOCUMENT SCHEMA_D_TS PYTHON_PACKAGE_DIR

Standard library only; exits 1 naming each operation and status that is missing.
"""

import json
import pathlib
import re
import sys

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def operations(document):
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                yield f"{method.upper()} {path}", operation["operationId"], sorted(operation["responses"])


def typescript_blocks(schema):
    """operationId -> the text of its entry in `export interface operations`."""
    start = schema.index("\nexport interface operations {\n")
    blocks = {}
    for match in re.finditer(r"^    ([A-Za-z0-9_]+): \{\n(.*?)^    \};$", schema[start:], re.M | re.S):
        blocks[match.group(1)] = match.group(2)
    return blocks


def python_modules(package):
    """operationId -> the source of its module under api/ (modules are named after it)."""
    return {module.stem: module.read_text(encoding="utf-8") for module in (package / "api").glob("*/*.py")}


def main(document_path, schema_path, package_dir):
    document = json.loads(pathlib.Path(document_path).read_text(encoding="utf-8"))
    ts = typescript_blocks(pathlib.Path(schema_path).read_text(encoding="utf-8"))
    py = python_modules(pathlib.Path(package_dir))
    problems = []
    count = 0
    for name, operation_id, statuses in operations(document):
        count += 1
        block = ts.get(operation_id)
        if block is None:
            problems.append(f"TypeScript: {name} ({operation_id}) is missing")
        else:
            for status in statuses:
                if not re.search(rf"^            {status}: \{{$", block, re.M):
                    problems.append(f"TypeScript: {name} ({operation_id}) has no response {status}")
        module = py.get(operation_id)
        if module is None:
            problems.append(f"Python: {name} ({operation_id}) is missing")
        else:
            for status in statuses:
                if f"    if response.status_code == {status}:\n" not in module:
                    problems.append(f"Python: {name} ({operation_id}) has no response {status}")
    for problem in problems:
        print(f"check_generated: {problem}", file=sys.stderr)
    if problems or count == 0:
        print(f"check_generated: FAIL: {len(problems)} problems in {count} operations", file=sys.stderr)
        return 1
    print(f"check_generated: both clients hold all {count} operations and every documented status")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
