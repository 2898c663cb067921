"""The shared condition language (gatehouse.core.conditions)."""

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from gatehouse.core.conditions import describe, evaluate, validate_condition

CTX = {
    "type": "access-request",
    "system": "okta",
    "priority": "high",
    "fields": {"environment": "Production", "count": 5, "flag": True, "tags": ["a", "B"]},
    "requester": {"department": "Sales", "teams": ["sales", "emea"]},
}


@pytest.mark.parametrize(
    "condition, expected",
    [
        ({}, True),
        ({"field": "type", "op": "eq", "value": "ACCESS-request"}, True),
        ({"field": "type", "value": "access-request"}, True),
        ({"field": "type", "op": "ne", "value": "access-request"}, False),
        ({"field": "system", "op": "in", "value": ["github", "okta"]}, True),
        ({"field": "system", "op": "not_in", "value": ["okta"]}, False),
        ({"field": "fields.environment", "op": "startswith", "value": "prod"}, True),
        ({"field": "fields.count", "op": "gte", "value": 5}, True),
        ({"field": "fields.count", "op": "gt", "value": "5"}, False),
        ({"field": "fields.flag", "op": "eq", "value": True}, True),
        ({"field": "fields.missing", "op": "missing"}, True),
        ({"field": "fields.environment", "op": "exists"}, True),
        ({"field": "requester.teams", "op": "contains", "value": "EMEA"}, True),
        ({"field": "requester.teams", "op": "eq", "value": "sales"}, True),
        ({"field": "fields.environment", "op": "matches", "value": "^prod"}, True),
        ({"field": "fields.count", "op": "lt", "value": "abc"}, False),
        (
            {"all": [{"field": "type", "value": "access-request"}, {"field": "priority", "value": "low"}]},
            False,
        ),
        ({"any": [{"field": "type", "value": "x"}, {"field": "priority", "value": "high"}]}, True),
        ({"any": []}, False),
        ({"all": []}, True),
        ({"not": {"field": "system", "value": "okta"}}, False),
    ],
)
def test_evaluate(condition, expected):
    validate_condition(condition)
    assert evaluate(condition, CTX) is expected
    assert describe(condition)


@pytest.mark.parametrize(
    "condition, key",
    [
        ([], "condition"),
        ({"all": {}}, "condition.all"),
        ({"all": [], "any": []}, "condition"),
        ({"field": "type", "op": "like", "value": 1}, "condition.op"),
        ({"field": "", "op": "eq", "value": 1}, "condition.field"),
        ({"field": "type", "op": "in", "value": "x"}, "condition.value"),
        ({"field": "type", "op": "eq"}, "condition.value"),
        ({"field": "type", "op": "matches", "value": "("}, "condition.value"),
        ({"any": [{"field": "bogus", "value": 1}]}, "condition.any.0.field"),
        ({"field": "type", "value": 1, "extra": 2}, "condition"),
    ],
)
def test_invalid_conditions_name_the_place(condition, key):
    with pytest.raises(ValidationError) as exc:
        validate_condition(condition, fields=["type", "system", "fields"])
    assert key in exc.value.message_dict


def test_too_deep_is_refused():
    condition: dict = {"field": "type", "value": 1}
    for _ in range(15):
        condition = {"not": condition}
    with pytest.raises(ValidationError):
        validate_condition(condition)


leaf = st.fixed_dictionaries(
    {
        "field": st.sampled_from(
            ["type", "system", "fields.count", "fields.tags", "requester.department", "nope"]
        ),
        "op": st.sampled_from(
            ["eq", "ne", "contains", "startswith", "endswith", "gt", "gte", "lt", "lte", "exists"]
        ),
        "value": st.one_of(st.text(max_size=5), st.integers()),
    }
)
conditions = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=8,
)


@given(conditions)
def test_valid_conditions_never_raise_and_not_inverts(condition):
    validate_condition(condition)
    result = evaluate(condition, CTX)
    assert isinstance(result, bool)
    assert evaluate({"not": condition}, CTX) is (not result)
