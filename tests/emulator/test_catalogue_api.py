"""Emulator layer: the catalogue endpoints' shapes, paging and errors."""

from __future__ import annotations

import httpx

V2 = "/ott/catalog/v2/toutv"


def test_browse_lists_sections(client: httpx.Client) -> None:
    for version in ("v2", "v3"):
        response = client.get(f"/ott/catalog/{version}/toutv/browse?device=web")
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"formats", "networks", "collections", "genres", "htmlMeta"}
        urls = [entry["url"] for entry in body["formats"]]
        assert urls == ["categorie/serie", "categorie/film", "categorie/documentaire"]
        assert body["networks"][0]["background"]["solidColor"].startswith("#")
        assert body["genres"][0] == {"title": "Drames", "url": "categorie/drames"}


def test_category_pages(client: httpx.Client) -> None:
    pages = []
    for number in (1, 2, 3, 4):
        response = client.get(
            f"{V2}/category/serie", params={"pageNumber": number, "pageSize": 3}
        )
        assert response.status_code == 200
        items = response.json()["content"][0]["items"]
        assert items["totalRecords"] == 10
        assert items["totalPages"] == 4
        assert items["pageNumber"] == number
        assert items["pageSize"] == 3
        pages.append([card["url"] for card in items["results"]])
    assert [len(page) for page in pages] == [3, 3, 3, 1]
    slugs = [slug for page in pages for slug in page]
    assert len(set(slugs)) == 10
    assert slugs[0] == "les-heritiers-du-fleuve"


def test_category_alphabetic_sort(client: httpx.Client) -> None:
    response = client.get(
        f"{V2}/category/serie", params={"sort": "Alphabetic", "pageSize": 100}
    )
    titles = [c["title"] for c in response.json()["content"][0]["items"]["results"]]
    assert titles[:3] == ["Cours d'eau", "Doublon", "Doublon"]
    assert titles.index("Épisodes perdus") < titles.index("Hors d'atteinte")


def test_category_card_shape(client: httpx.Client) -> None:
    body = client.get(f"{V2}/category/film").json()
    card = body["content"][0]["items"]["results"][0]
    assert card["title"] == "Le Grand Nord"
    assert card["infoTitle"] == "1 min"
    assert card["key"] == "show-le-grand-nord"
    assert card["type"] == "Show"
    assert card["images"]["card"]["url"].startswith(
        client.base_url.join("/images/").__str__()
    )
    assert "(_Size_)" in card["images"]["card"]["url"]
    assert body["actions"][1]["url"] == "categorie/film?sort=Alphabetic"


def test_category_errors(client: httpx.Client) -> None:
    assert client.get(f"{V2}/category/inconnue").status_code == 404
    assert client.get(f"{V2}/category/serie?pageSize=0").status_code == 400
    assert client.get(f"{V2}/category/serie?pageNumber=x").status_code == 400


def test_search_v2(client: httpx.Client) -> None:
    body = client.get(
        f"{V2}/search", params={"term": "HERITIERS", "pageSize": 5}
    ).json()
    assert body["totalRecords"] == 1
    assert body["pageSize"] == 5
    assert body["results"][0]["url"] == "les-heritiers-du-fleuve"
    accented = client.get(f"{V2}/search", params={"term": "héritiers"}).json()
    assert accented["results"] == body["results"]
    both = client.get(f"{V2}/search", params={"term": "doublon"}).json()
    assert [r["url"] for r in both["results"]] == ["doublon-1", "doublon-2"]
    assert client.get(f"{V2}/search").status_code == 400


def test_search_v1_index(client: httpx.Client) -> None:
    body = client.get(
        "/ott/catalog/v1/toutv/search", params={"term": "*", "pageSize": 100}
    ).json()
    assert set(body) == {
        "totalRecords",
        "pageNumber",
        "totalPages",
        "pageSize",
        "result",
    }
    assert body["totalRecords"] == 11
    types = {entry["url"]: entry["type"] for entry in body["result"]}
    assert types["unite-7"] == "Season"
    assert types["les-heritiers-du-fleuve"] == "Show"
    found = client.get("/ott/catalog/v1/toutv/search", params={"term": "marée"}).json()
    assert {"type": "Media", "url": "les-heritiers-du-fleuve/s01e02"}.items() <= (
        found["result"][0].items()
    )


def test_show_page(client: httpx.Client) -> None:
    body = client.get(f"{V2}/show/les-heritiers-du-fleuve").json()
    assert body["contentType"] == "Season"
    assert body["selectedUrl"] == "les-heritiers-du-fleuve"
    lineups = body["content"][0]["lineups"]
    assert [lineup["seasonNumber"] for lineup in lineups] == [0, 1, 2]
    assert lineups[0]["items"][0]["mediaType"] == "Trailer"
    season1 = lineups[1]
    assert season1["title"] == "Saison 1"
    assert season1["url"] == "les-heritiers-du-fleuve/saison-1"
    items = season1["items"]
    assert [i["idMedia"] for i in items] == [910001, 910002, 910003]
    assert [i["episodeNumber"] for i in items] == [1, 2, 3]
    assert items[0]["url"] == "les-heritiers-du-fleuve/s01e01"
    assert items[0]["metadata"]["duration"] == 60
    assert "description" not in items[1]
    assert [i["tier"] for i in items] == ["Standard", "Standard", "Member"]
    assert body["structuredMetadata"]["numberOfSeasons"] == 2


def test_season_page(client: httpx.Client) -> None:
    body = client.get(f"{V2}/show/les-heritiers-du-fleuve/saison-2").json()
    assert body["selectedUrl"] == "les-heritiers-du-fleuve/saison-2"
    lineups = body["content"][0]["lineups"]
    assert [lineup["seasonNumber"] for lineup in lineups] == [2]
    assert [i["idMedia"] for i in lineups[0]["items"]] == [910011, 910012]
    episode = client.get(f"{V2}/show/les-heritiers-du-fleuve/s02e01").json()
    assert episode["selectedUrl"] == "les-heritiers-du-fleuve/s02e01"


def test_film_page(client: httpx.Client) -> None:
    body = client.get(f"{V2}/show/le-grand-nord").json()
    assert body["contentType"] == "Standalone"
    (lineup,) = body["content"][0]["lineups"]
    assert lineup["items"][0]["mediaType"] == "Film"
    assert lineup["items"][0]["idMedia"] == 960001


def test_show_errors(client: httpx.Client) -> None:
    assert client.get(f"{V2}/show/inconnue").status_code == 404
    assert client.get(f"{V2}/show/les-heritiers-du-fleuve/saison-9").status_code == 404


def test_retired_presentation_api(client: httpx.Client) -> None:
    response = client.get("/toutv/presentation/settings?device=web&version=4")
    assert response.status_code == 426
