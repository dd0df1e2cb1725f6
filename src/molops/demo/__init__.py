"""Files the built-in demo uses (made up for molops; not copied from any dataset)."""
