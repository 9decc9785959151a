"""The double-entry ledger (issue 4): balances, ledger pages, grants and the invariant audit."""
