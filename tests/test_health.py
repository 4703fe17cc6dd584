def test_root_names_the_api(client):
    response = client.get("/")

    assert response.status_code == 200
    assert response.get_json() == {
        "message": "Book Store API", "version": "1.0.0", "docs": "/apidocs/", "health": "/health",
    }


def test_liveness_reports_healthy(client):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.get_json() == {"status": "healthy", "service": "bookapi", "version": "1.0.0"}


def test_readiness_checks_database(client):
    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok"}
