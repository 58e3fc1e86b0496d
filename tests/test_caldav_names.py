"""Collection names servers accept (`{counsellor_slug}`) and the preconditions they name."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from kontaktsync.sync.targets.caldav.names import precondition
from kontaktsync.sync.targets.transport import counsellor_slug

LOGINS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCÄÖÜäöüß0123456789._-@+", min_size=1, max_size=40)


def test_plain_ids_stay_and_others_get_a_stable_suffix():
    assert counsellor_slug("mmueller") == "mmueller"
    assert counsellor_slug("m-mueller") == "m-mueller"
    slug = counsellor_slug("m.mueller")
    assert re.fullmatch(r"m-mueller-[0-9a-f]{8}", slug)
    assert counsellor_slug("m.mueller") == slug  # stable
    assert counsellor_slug("M.Mueller") != slug
    assert re.fullmatch(r"[a-z0-9-]+", counsellor_slug("jürgen.groß@jobcenter.example"))


@given(st.lists(LOGINS, min_size=2, max_size=30, unique=True))
def test_slugs_are_safe_and_never_collide(ids):
    slugs = [counsellor_slug(i) for i in ids]
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", s) for s in slugs)
    assert len(set(slugs)) == len(ids)


def test_the_precondition_a_server_names_is_quoted():
    cyrus = (
        b'<?xml version="1.0" encoding="utf-8"?><D:error xmlns:D="DAV:" '
        b'xmlns:C="urn:ietf:params:xml:ns:caldav"><C:calendar-collection-location-ok/>'
        b"<D:responsedescription>Invalid characters in collection name</D:responsedescription></D:error>"
    )
    assert precondition(cyrus) == (
        'CALDAV:calendar-collection-location-ok ("Invalid characters in collection name")'
    )
    unique = (
        b'<D:error xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        b"<C:no-uid-conflict><D:href>/dav/calendars/user/a/x.ics</D:href></C:no-uid-conflict></D:error>"
    )
    assert precondition(unique) == 'CALDAV:no-uid-conflict ("/dav/calendars/user/a/x.ics")'
    assert precondition(b"<html>Forbidden</html>") is None
    assert precondition(b"not xml") is None and precondition(None) is None
