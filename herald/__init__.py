"""Herald's one import namespace, built from the checkout's folders.

`herald.shared`, `herald.services`, `herald.cli` and `herald.client` are the
top-level folders of the same names: links here, real directories in the wheel
(pyproject.toml maps them), so installing Herald adds no generic top-level names.
"""
