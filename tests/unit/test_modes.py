"""Reading grok.com's mode list liberally (its shape is not documented), and the OpenAI model
list built from it."""

from __future__ import annotations

import pytest

from app.grok.modes import Mode, ModeList, parse_modes
from app.openai import models
from app.problems import Problem


def test_the_shape_grok_com_is_seen_with():
    parsed = parse_modes(
        {
            "modes": [
                {"id": "auto", "title": "Auto", "description": "Chooses Fast or Expert"},
                {"id": "heavy", "title": "Heavy", "available": False, "upsell": {"tier": "SuperGrok Heavy"}},
                {"id": "build", "title": "Build", "badge": "Beta"},
            ],
            "defaultModeId": "auto",
        }
    )
    assert parsed.default == "auto"
    assert parsed.modes == (
        Mode("auto", "Auto", "Chooses Fast or Expert", True, False),
        Mode("heavy", "Heavy", None, False, False),
        Mode("build", "Build", None, True, True),
    )


@pytest.mark.parametrize(
    "entry, available",
    [
        ({"modeId": "x", "enabled": False}, False),
        ({"modeId": "x", "locked": True}, False),
        ({"modeId": "x", "requiresUpgrade": True}, False),
        ({"modeId": "x", "upsell": {"tier": "Heavy"}}, False),
        ({"modeId": "x", "upsell": None}, True),
        ({"modeId": "x", "isAvailable": True, "upsell": {"tier": "Heavy"}}, True),
        ({"modeId": "x"}, True),
    ],
)
def test_availability_flags(entry, available):
    assert parse_modes({"availableModes": [entry]}).modes[0].available is available


def test_bare_lists_and_junk_entries():
    parsed = parse_modes(["auto", {"id": ""}, {"id": 5}, 7, {"name": "no id"}, {"id": "x" * 65}, {"mode": "fast"}])
    assert [m.id for m in parsed.modes] == ["auto", "fast"]


@pytest.mark.parametrize(
    "answer, found",
    [({"error": "nope"}, "found ['error']"), ("text", "found str"), ({"modes": [{"title": "x"}]}, "no mode id")],
)
def test_answers_without_modes_say_what_they_held(answer, found):
    with pytest.raises(ValueError, match=found.replace("[", r"\[").replace("]", r"\]")):
        parse_modes(answer)


def test_the_list_round_trips_through_json():
    listing = ModeList((Mode("auto"), Mode("build", "Build", None, True, True)), "auto", 123.0, "b1", ("grok-43",))
    assert ModeList.from_json(listing.to_json()) == listing
    assert ModeList.from_json({"modes": "nope"}) is None


LIVE = ModeList((Mode("auto"), Mode("fast"), Mode("build", beta=True), Mode("heavy", available=False)), "auto", 1.0)


def test_models_from_the_live_list():
    offered = models.offered(LIVE)
    assert list(offered) == ["auto", "fast", "build", "heavy"]
    assert offered["heavy"].as_openai()["available"] is False and offered["build"].as_openai()["beta"] is True
    assert offered["fast"].created == models.MODELS["fast"].created
    assert offered["build"].created == models.NEW_MODE_CREATED and offered["build"].upstream == {"modeId": "build"}


def test_resolution_against_the_live_list():
    assert models.resolve("BUILD", LIVE).id == "build"
    assert models.resolve("gpt-4o", LIVE).id == "auto"
    assert models.resolve(None, LIVE).id == "auto"
    for gone in ("grok-43", "expert"):  # built in, and not in the account's list
        with pytest.raises(Problem) as err:
            models.resolve(gone, LIVE)
        assert err.value.status == 404 and err.value.param == "model"
    retired = ModeList(LIVE.modes, "auto", 1.0, None, ("reasoning",))
    assert models.vanished("reasoning", retired) and not models.vanished("reasoning", LIVE)
    assert models.resolve("grok-43", None).upstream == {"modelMode": "grok-43"}  # no list: built in
