"""In-memory fakes of every port, one module per port family.

Each fake keeps the promise its Protocol documents (and the real adapter's
integration test checks): a use case that passes on the fakes and fails on the
servers means a fake drifted, so fix the fake first.
"""
