"""``molops features featurizers`` shows each featurizer's summary as plain text, not reST markup."""

from __future__ import annotations

import json

from .conftest import Run


def test_featurizer_summaries_have_no_rest_literals(run: Run):
    res = run("features", "featurizers", "--json")
    assert res.code == 0, res
    docs = {r["name"]: r["doc"] for r in json.loads(res.stdout)["featurizers"]}
    assert not [name for name, doc in docs.items() if "``" in doc], docs
    assert "(set=all, ~200)" in docs["rdkit2d"], docs["rdkit2d"]
