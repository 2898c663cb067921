import pytest

pytestmark = pytest.mark.django_db


def test_every_response_carries_a_self_only_csp_and_a_request_id(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert len(response["X-Request-ID"]) == 32


def test_a_well_formed_caller_request_id_is_kept_and_a_bad_one_replaced(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    assert client.get("/healthz", HTTP_X_REQUEST_ID="<script>")["X-Request-ID"] != "<script>"


def test_nul_in_the_path_or_query_is_refused_on_every_database(client, admin_user):
    client.force_login(admin_user)
    response = client.delete("/api/v1/teams/%00")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path"]
    response = client.get("/api/v1/people", {"q": "a\x00b"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "q"]
    page = client.get("/people/", {"q": "\x00"})
    assert page.status_code == 400
    assert b"query q: Must not contain NUL" in page.content
