"""Fixtures shared by the desk's tests. Each part adds a marked block; keep the others'."""

# --- part A (requests engine): the `desk` world, see world.py
from gatehouse.desk.tests.world import desk  # noqa: F401
# --- end part A
