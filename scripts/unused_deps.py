"""Dependencies a crate declares and never names in its code (the check cargo-machete
makes, by text): for each dependency `a-b` of a crate, some `.rs` file of the crate must
mention `a_b`. Dev-dependencies are looked for in the crate's tests too. Prints each
unused one and exits 1 if there is any.

Usage: scripts/unused_deps.py CRATE_DIR...
"""
import os
import re
import sys
import tomllib

# Named by no path in code: linked for what they do (features, macros' support crates).
IMPLICIT = {"openssl-probe"}


def rust_text(crate, folders):
    text = []
    for folder in folders:
        for root, dirs, files in os.walk(os.path.join(crate, folder)):
            dirs[:] = [d for d in dirs if d != "target"]
            text += [open(os.path.join(root, f)).read() for f in files if f.endswith(".rs")]
    return "\n".join(text)


def used(name, text):
    ident = name.replace("-", "_")
    return re.search(rf"\b{re.escape(ident)}\b", text) is not None


found = 0
for crate in sys.argv[1:]:
    manifest = tomllib.load(open(os.path.join(crate, "Cargo.toml"), "rb"))
    code = rust_text(crate, ["src"])
    for section, text in [("dependencies", code), ("dev-dependencies", code + rust_text(crate, ["tests", "benches"]))]:
        for name in manifest.get(section, {}):
            if name not in IMPLICIT and not used(name, text):
                print(f"{crate}: [{section}] {name} is never used")
                found += 1
print(f"unused dependencies: {found}")
sys.exit(1 if found else 0)
