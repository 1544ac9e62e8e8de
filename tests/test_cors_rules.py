"""grader.check.cors: the Fetch standard's CORS rules, one table row per header combination."""

import pytest

from grader.check.cors import (
    Answer,
    CorsProblem,
    CorsRequest,
    Verdict,
    judge,
    needs_preflight,
    preflight_headers,
    request_headers,
)

ORIGIN = "http://127.0.0.1:4100"
ACAO = "Access-Control-Allow-Origin"
ACAC = "Access-Control-Allow-Credentials"
ACAM = "Access-Control-Allow-Methods"
ACAH = "Access-Control-Allow-Headers"

LESSON = CorsRequest(ORIGIN)  # GET, Content-Type: application/json, credentials: 'include'
NO_CREDENTIALS = CorsRequest(ORIGIN, credentials=False)
PUT = CorsRequest(ORIGIN, method="PUT")
PLAIN_GET = CorsRequest(ORIGIN, headers=())

# What flask-cors 6 sends for CORS(app, supports_credentials=True, origins='*') (captured with Flask's test client).
PREFLIGHT = {
    "Content-Type": "text/html; charset=utf-8",
    "Allow": "GET, HEAD, OPTIONS",
    ACAO: ORIGIN,
    ACAC: "true",
    ACAH: "content-type",
    ACAM: "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT",
    "Vary": "Origin",
    "Content-Length": "0",
}
RESPONSE = {"Content-Type": "application/json", ACAO: ORIGIN, ACAC: "true", "Vary": "Origin"}


def answer(base: dict, status: int = 200, **changes: str | None) -> Answer:
    """``base`` with headers changed; keyword names use _ for -, and None removes the header."""
    headers = dict(base)
    for key, value in changes.items():
        name = key.replace("_", "-")
        headers.pop(name, None)
        if value is not None:
            headers[name] = value
    return Answer(status, headers)


def pre(status: int = 200, **changes: str | None) -> Answer:
    return answer(PREFLIGHT, status, **changes)


def resp(status: int = 200, **changes: str | None) -> Answer:
    return answer(RESPONSE, status, **changes)


def both(**changes: str | None) -> tuple[Answer, Answer]:
    return pre(**changes), resp(**changes)


def codes(verdict: Verdict) -> list[tuple[str, str]]:
    return [(p.stage, p.code) for p in verdict.problems]


P, R = "preflight", "response"

JUDGE_CASES = [
    # (id, request, preflight, response, expected (stage, code) in order, number of warnings)
    ("lesson flask-cors answer", LESSON, pre(), resp(), [], 0),
    ("preflight 204 is ok", LESSON, pre(204), resp(), [], 0),
    ("preflight 299 is ok", LESSON, pre(299), resp(), [], 0),
    (
        "CORS(app) in flask-cors 6: echoes origin, no credentials header",
        LESSON,
        *both(Access_Control_Allow_Credentials=None),
        [(P, "allow-credentials-missing"), (R, "allow-credentials-missing")],
        0,
    ),
    (
        "CORS(app) with * and no credentials header",
        LESSON,
        *both(Access_Control_Allow_Origin="*", Access_Control_Allow_Credentials=None, Vary=None),
        [
            (P, "allow-origin-wildcard"),
            (P, "allow-credentials-missing"),
            (R, "allow-origin-wildcard"),
            (R, "allow-credentials-missing"),
        ],
        0,
    ),
    (
        "* with credentials true is still refused",
        LESSON,
        pre(),
        resp(Access_Control_Allow_Origin="*"),
        [(R, "allow-origin-wildcard")],
        0,
    ),
    (
        "* without credentials passes",
        NO_CREDENTIALS,
        *both(Access_Control_Allow_Origin="*", Access_Control_Allow_Credentials=None, Vary=None),
        [],
        0,
    ),
    ("echoed origin without credentials passes", NO_CREDENTIALS, *both(Access_Control_Allow_Credentials=None), [], 0),
    (
        "no CORS at all",
        LESSON,
        Answer(200, {"Allow": "GET, HEAD, OPTIONS"}),
        Answer(200, {}),
        [
            (P, "allow-origin-missing"),
            (P, "allow-credentials-missing"),
            (P, "header-not-allowed"),
            (R, "allow-origin-missing"),
            (R, "allow-credentials-missing"),
        ],
        0,
    ),
    ("ACAC True", LESSON, pre(), resp(Access_Control_Allow_Credentials="True"), [(R, "allow-credentials-not-true")], 0),
    (
        "ACAC TRUE on the preflight",
        LESSON,
        pre(Access_Control_Allow_Credentials="TRUE"),
        resp(),
        [(P, "allow-credentials-not-true")],
        0,
    ),
    ("ACAC ' true ' is trimmed", LESSON, *both(Access_Control_Allow_Credentials=" true "), [], 0),
    ("ACAC '\\ttrue' is trimmed", LESSON, *both(Access_Control_Allow_Credentials="\ttrue"), [], 0),
    (
        "ACAC sent twice",
        LESSON,
        pre(),
        resp(Access_Control_Allow_Credentials="true, true"),
        [(R, "allow-credentials-not-true")],
        0,
    ),
    ("ACAC 1", LESSON, pre(), resp(Access_Control_Allow_Credentials="1"), [(R, "allow-credentials-not-true")], 0),
    ("ACAC empty", LESSON, pre(), resp(Access_Control_Allow_Credentials=""), [(R, "allow-credentials-not-true")], 0),
    ("ACAO with trailing space", LESSON, *both(Access_Control_Allow_Origin=ORIGIN + " "), [], 0),
    ("ACAO with leading tab", LESSON, *both(Access_Control_Allow_Origin="\t" + ORIGIN), [], 0),
    (
        "ACAO scheme in capitals",
        LESSON,
        pre(),
        resp(Access_Control_Allow_Origin="HTTP://127.0.0.1:4100"),
        [(R, "allow-origin-mismatch")],
        0,
    ),
    (
        "ACAO host in another case",
        CorsRequest("http://localhost:4100"),
        pre(Access_Control_Allow_Origin="http://localhost:4100"),
        resp(Access_Control_Allow_Origin="http://LocalHost:4100"),
        [(R, "allow-origin-mismatch")],
        0,
    ),
    (
        "ACAO with trailing slash",
        LESSON,
        *both(Access_Control_Allow_Origin=ORIGIN + "/"),
        [(P, "allow-origin-mismatch"), (R, "allow-origin-mismatch")],
        0,
    ),
    (
        "ACAO for another port",
        LESSON,
        pre(),
        resp(Access_Control_Allow_Origin="http://127.0.0.1:5000"),
        [(R, "allow-origin-mismatch")],
        0,
    ),
    ("ACAO null", LESSON, pre(), resp(Access_Control_Allow_Origin="null"), [(R, "allow-origin-mismatch")], 0),
    (
        "ACAO sent twice, joined",
        LESSON,
        pre(),
        resp(Access_Control_Allow_Origin=f"{ORIGIN}, {ORIGIN}"),
        [(R, "allow-origin-multiple")],
        0,
    ),
    (
        "ACAO with two origins, space separated",
        LESSON,
        pre(Access_Control_Allow_Origin=f"{ORIGIN} http://a.test"),
        resp(),
        [(P, "allow-origin-multiple")],
        0,
    ),
    (
        "ACAO * and origin joined",
        NO_CREDENTIALS,
        pre(),
        resp(Access_Control_Allow_Origin=f"*, {ORIGIN}"),
        [(R, "allow-origin-multiple")],
        0,
    ),
    (
        "ACAO mismatch without credentials",
        NO_CREDENTIALS,
        pre(),
        resp(Access_Control_Allow_Origin=ORIGIN + "/"),
        [(R, "allow-origin-mismatch")],
        0,
    ),
    (
        "preflight 404 without CORS headers: Chromium order",
        LESSON,
        Answer(404, {}),
        resp(),
        [(P, "allow-origin-missing"), (P, "allow-credentials-missing"), (P, "preflight-status")],
        0,
    ),
    ("Allow-Headers missing", LESSON, pre(Access_Control_Allow_Headers=None), resp(), [(P, "header-not-allowed")], 0),
    ("Allow-Headers Content-Type", LESSON, pre(Access_Control_Allow_Headers="Content-Type"), resp(), [], 0),
    ("Allow-Headers CONTENT-TYPE", LESSON, pre(Access_Control_Allow_Headers="CONTENT-TYPE"), resp(), [], 0),
    ("Allow-Headers with empty items", LESSON, pre(Access_Control_Allow_Headers=" ,, content-type ,"), resp(), [], 0),
    (
        "Allow-Headers for another header",
        LESSON,
        pre(Access_Control_Allow_Headers="x-requested-with"),
        resp(),
        [(P, "header-not-allowed")],
        0,
    ),
    (
        "Allow-Headers * with credentials",
        LESSON,
        pre(Access_Control_Allow_Headers="*"),
        resp(),
        [(P, "header-not-allowed")],
        0,
    ),
    (
        "Allow-Headers * and the name with credentials",
        LESSON,
        pre(Access_Control_Allow_Headers="*, Content-Type"),
        resp(),
        [],
        0,
    ),
    ("Allow-Headers * without credentials", NO_CREDENTIALS, pre(Access_Control_Allow_Headers="*"), resp(), [], 0),
    (
        "Allow-Headers str(list)",
        LESSON,
        pre(Access_Control_Allow_Headers="['Content-Type']"),
        resp(),
        [(P, "allow-list-invalid")],
        0,
    ),
    (
        "Allow-Headers with a space inside a name",
        LESSON,
        pre(Access_Control_Allow_Headers="Content Type"),
        resp(),
        [(P, "allow-list-invalid")],
        0,
    ),
    (
        "Allow-Headers with ; separators",
        LESSON,
        pre(Access_Control_Allow_Headers="content-type; accept"),
        resp(),
        [(P, "allow-list-invalid")],
        0,
    ),
    (
        "Allow-Methods invalid fails even for GET",
        LESSON,
        pre(Access_Control_Allow_Methods="GET/POST"),
        resp(),
        [(P, "allow-list-invalid")],
        0,
    ),
    (
        "both lists invalid",
        PUT,
        pre(Access_Control_Allow_Methods="[PUT]", Access_Control_Allow_Headers="a b"),
        resp(),
        [(P, "allow-list-invalid"), (P, "allow-list-invalid")],
        0,
    ),
    ("Allow-Methods missing is fine for GET", LESSON, pre(Access_Control_Allow_Methods=None), resp(), [], 0),
    ("PUT listed by flask-cors", PUT, pre(), resp(), [], 0),
    ("PUT not listed", PUT, pre(Access_Control_Allow_Methods="GET, POST"), resp(), [(P, "method-not-allowed")], 0),
    ("PUT and no Allow-Methods", PUT, pre(Access_Control_Allow_Methods=None), resp(), [(P, "method-not-allowed")], 0),
    ("PUT listed as put", PUT, pre(Access_Control_Allow_Methods="get, put"), resp(), [(P, "method-not-allowed")], 0),
    ("put is sent as PUT", CorsRequest(ORIGIN, method="put"), pre(Access_Control_Allow_Methods="PUT"), resp(), [], 0),
    (
        "patch is sent as written: PATCH does not match",
        CorsRequest(ORIGIN, method="patch"),
        pre(Access_Control_Allow_Methods="PATCH"),
        resp(),
        [(P, "method-not-allowed")],
        0,
    ),
    (
        "patch listed as patch",
        CorsRequest(ORIGIN, method="patch"),
        pre(Access_Control_Allow_Methods="patch"),
        resp(),
        [],
        0,
    ),
    (
        "Allow-Methods * with credentials",
        PUT,
        pre(Access_Control_Allow_Methods="*"),
        resp(),
        [(P, "method-not-allowed")],
        0,
    ),
    (
        "Allow-Methods * without credentials",
        CorsRequest(ORIGIN, method="PUT", credentials=False),
        pre(Access_Control_Allow_Methods="*"),
        resp(),
        [],
        0,
    ),
    (
        "POST needs no listing",
        CorsRequest(ORIGIN, method="POST"),
        pre(Access_Control_Allow_Methods="PUT"),
        resp(),
        [],
        0,
    ),
    (
        "PUT without JSON header still preflights",
        CorsRequest(ORIGIN, method="PUT", headers=()),
        pre(Access_Control_Allow_Methods="GET", Access_Control_Allow_Headers=None),
        resp(),
        [(P, "method-not-allowed")],
        0,
    ),
    (
        "Authorization not covered by *",
        CorsRequest(ORIGIN, headers=("Authorization: Bearer x",), credentials=False),
        pre(Access_Control_Allow_Headers="*"),
        resp(),
        [(P, "header-not-allowed")],
        0,
    ),
    (
        "Authorization listed next to *",
        CorsRequest(ORIGIN, headers=("Authorization: Bearer x",), credentials=False),
        pre(Access_Control_Allow_Headers="*, authorization"),
        resp(),
        [],
        0,
    ),
    (
        "each unlisted header is reported",
        CorsRequest(ORIGIN, headers=("Content-Type: application/json", "X-Token: 1")),
        pre(Access_Control_Allow_Headers=None),
        resp(),
        [(P, "header-not-allowed"), (P, "header-not-allowed")],
        0,
    ),
    (
        "custom header unlisted",
        CorsRequest(ORIGIN, headers=("Content-Type: application/json", "X-Token: 1")),
        pre(),
        resp(),
        [(P, "header-not-allowed")],
        0,
    ),
    ("no preflight needed without the JSON header", PLAIN_GET, None, resp(), [], 0),
    ("a preflight answer is ignored when none is needed", PLAIN_GET, Answer(500, {}), resp(), [], 0),
    (
        "text/plain needs no preflight",
        CorsRequest(ORIGIN, headers=("Content-Type: text/plain;charset=UTF-8",)),
        None,
        resp(),
        [],
        0,
    ),
    ("Vary absent", LESSON, pre(), resp(Vary=None), [], 1),
    ("Vary Accept-Encoding, Origin", LESSON, pre(), resp(Vary="Accept-Encoding, Origin"), [], 0),
    ("Vary origin in lower case", LESSON, pre(), resp(Vary="origin"), [], 0),
    ("Vary *", LESSON, pre(), resp(Vary="*"), [], 0),
    ("Vary Accept-Encoding only", LESSON, pre(), resp(Vary="Accept-Encoding"), [], 1),
    ("Vary Origins is not Origin", LESSON, pre(), resp(Vary="Origins"), [], 1),
    ("no Vary warning on a preflight", LESSON, pre(Vary=None), resp(), [], 0),
    ("no Vary warning for *", NO_CREDENTIALS, pre(), resp(Access_Control_Allow_Origin="*", Vary=None), [], 0),
    ("response not obtained", LESSON, pre(), None, [(R, "no-response-answer")], 0),
    ("preflight not obtained", LESSON, None, resp(), [(P, "no-preflight-answer")], 0),
    ("nothing obtained", LESSON, None, None, [(P, "no-preflight-answer"), (R, "no-response-answer")], 0),
    (
        "stages are judged independently",
        LESSON,
        pre(301),
        resp(Access_Control_Allow_Credentials=None),
        [(P, "preflight-status"), (R, "allow-credentials-missing")],
        0,
    ),
    (
        "header names are case-insensitive",
        LESSON,
        Answer(
            200,
            {
                "access-control-allow-origin": ORIGIN,
                "ACCESS-CONTROL-ALLOW-CREDENTIALS": "true",
                "access-control-allow-headers": "Content-Type",
            },
        ),
        Answer(
            200, {"Access-control-allow-origin": ORIGIN, "access-control-allow-credentials": "true", "vary": "origin"}
        ),
        [],
        0,
    ),
    (
        "same header under two spellings is joined",
        LESSON,
        pre(),
        Answer(200, {ACAO: ORIGIN, "access-control-allow-origin": ORIGIN, ACAC: "true", "Vary": "Origin"}),
        [(R, "allow-origin-multiple")],
        0,
    ),
]


@pytest.mark.parametrize(
    "request_, preflight, response, expected, warnings",
    [case[1:] for case in JUDGE_CASES],
    ids=[case[0] for case in JUDGE_CASES],
)
def test_judge(request_, preflight, response, expected, warnings):
    verdict = judge(request_, preflight, response)
    assert codes(verdict) == expected
    assert len(verdict.warnings) == warnings
    assert verdict.ok is (expected == [])
    assert verdict.at(P) + verdict.at(R) == verdict.problems
    assert all(p.message and p.hint and "\n" not in p.message + p.hint for p in verdict.problems)


@pytest.mark.parametrize("status", [100, 199, 300, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405, 500, 502, 503])
def test_preflight_status_not_ok(status):
    verdict = judge(LESSON, pre(status), resp())
    assert codes(verdict) == [(P, "preflight-status")]
    assert verdict.problems[0].message.startswith('expected the OPTIONS "preflight" answer to have a 2xx status')
    assert f"saw {status};" in verdict.problems[0].message


@pytest.mark.parametrize(
    "status, words",
    [
        (301, "redirect"),
        (308, "redirect"),
        (404, "@app.route"),
        (405, "OPTIONS"),
        (403, "login"),
        (500, "traceback"),
    ],
)
def test_preflight_status_hint(status, words):
    assert words in judge(LESSON, pre(status), resp()).problems[0].hint


@pytest.mark.parametrize(
    "method, headers, expected",
    [
        ("GET", ("Content-Type: application/json",), True),
        ("GET", ("content-type: APPLICATION/JSON",), True),
        ("GET", ("Content-Type: application/json; charset=utf-8",), True),
        ("GET", (), False),
        ("get", (), False),
        ("HEAD", (), False),
        ("POST", ("Content-Type: application/x-www-form-urlencoded",), False),
        ("POST", ("Content-Type: multipart/form-data; boundary=x",), False),
        ("POST", ("Content-Type: text/plain",), False),
        ("POST", ("Content-Type:   Text/Plain ; charset=UTF-8",), False),
        ("POST", ('Content-Type: text/plain; charset="utf-8"',), True),  # " is a CORS-unsafe byte
        ("POST", ("Content-Type: text /plain",), True),
        ("POST", ("Content-Type: text/plain; x=" + "a" * 120,), True),  # over 128 bytes
        ("GET", ("Accept-Language: " + "a" * 128,), False),  # 128 bytes is still safelisted
        ("GET", ("Accept-Language: " + "a" * 129,), True),
        ("POST", ("Content-Type: textplain",), True),
        ("PUT", (), True),
        ("DELETE", (), True),
        ("PATCH", (), True),
        ("OPTIONS", (), True),
        ("GET", ("Accept: application/json",), False),
        ("GET", ("Accept: {json}",), True),
        ("GET", ("Accept-Language: en-US,en;q=0.9",), False),
        ("GET", ("Accept-Language: en_US",), True),
        ("GET", ("Content-Language: de-DE",), False),
        ("GET", ("Range: bytes=0-99",), False),
        ("GET", ("Range: bytes=100-",), False),
        ("GET", ("Range: bytes=-100",), True),
        ("GET", ("Range: bytes=9-1",), True),
        ("GET", ("Range: bytes=0-1,5-6",), True),
        ("GET", ("Authorization: Bearer token",), True),
        ("GET", ("X-Requested-With: XMLHttpRequest",), True),
        ("GET", tuple(f"Accept: {'a' * 128}" for _ in range(8)), False),  # 1024 bytes of safelisted values
        ("GET", tuple(f"Accept: {'a' * 128}" for _ in range(8)) + ("Accept-Language: e",), True),  # 1025
        ("GET", ("Cookie: a=1", "Origin: http://evil.test", "Sec-Fetch-Mode: x", "Proxy-Foo: 1"), False),  # dropped
        ("GET", ("X-HTTP-Method-Override: TRACE",), False),  # dropped
        ("GET", ("X-HTTP-Method-Override: PUT",), True),
    ],
)
def test_needs_preflight(method, headers, expected):
    assert needs_preflight(CorsRequest(ORIGIN, method=method, headers=headers)) is expected
    assert judge(CorsRequest(ORIGIN, method=method, headers=headers), None, resp()).preflight_needed is expected


@pytest.mark.parametrize(
    "request_, expected",
    [
        (
            LESSON,
            {
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "content-type",
            },
        ),
        (CorsRequest(ORIGIN, method="put", headers=()), {"Origin": ORIGIN, "Access-Control-Request-Method": "PUT"}),
        (CorsRequest(ORIGIN, method="patch", headers=()), {"Origin": ORIGIN, "Access-Control-Request-Method": "patch"}),
        (
            CorsRequest(ORIGIN, headers=("X-Token: 1", "Content-Type: application/json", "Accept: */*", "x-token: 2")),
            {
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "content-type,x-token",
            },
        ),
        (
            CorsRequest(ORIGIN, method="POST", headers=("Content-Type: text/plain", "Cookie: a=1")),
            {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
        ),
    ],
)
def test_preflight_headers(request_, expected):
    assert preflight_headers(request_) == expected


@pytest.mark.parametrize(
    "request_, expected",
    [
        (LESSON, {"Origin": ORIGIN, "Content-Type": "application/json"}),
        (PLAIN_GET, {"Origin": ORIGIN}),
        (
            CorsRequest(ORIGIN, headers=("Accept:  a ", "accept: b", "Host: x", "Origin: http://evil.test")),
            {"Origin": ORIGIN, "Accept": "a, b"},
        ),
    ],
)
def test_request_headers(request_, expected):
    assert request_headers(request_) == expected


@pytest.mark.parametrize(
    "method, headers",
    [
        ("TRACE", ()),
        ("connect", ()),
        ("GE T", ()),
        ("GET", ("no colon",)),
        ("GET", ("Bad Name: x",)),
        ("GET", ("X-A: line\nbreak",)),
    ],
)
def test_fetch_refuses(method, headers):
    with pytest.raises(ValueError):
        needs_preflight(CorsRequest(ORIGIN, method=method, headers=headers))


def only(verdict: Verdict) -> CorsProblem:
    assert len(verdict.problems) == 1, codes(verdict)
    return verdict.problems[0]


def test_preflight_message_explains_the_preflight():
    problem = only(judge(LESSON, pre(Access_Control_Allow_Origin=None), resp()))
    assert problem.message == (
        'expected the OPTIONS "preflight" answer to have Access-Control-Allow-Origin: "http://127.0.0.1:4100", '
        'saw no such header; the browser sends this OPTIONS "preflight" before the GET because of the '
        "Content-Type: application/json header"
    )
    assert "CORS(app, supports_credentials=True, origins='*')" in problem.hint


def test_preflight_message_names_the_method():
    problem = only(judge(CorsRequest(ORIGIN, method="PUT"), pre(Access_Control_Allow_Methods="GET"), resp()))
    assert problem.message == (
        'expected the OPTIONS "preflight" answer to list PUT in Access-Control-Allow-Methods, saw "GET"; '
        'the browser sends this OPTIONS "preflight" before the PUT because of the PUT method and the '
        "Content-Type: application/json header"
    )
    assert "methods=['GET', 'PUT']" in problem.hint


def test_response_messages_have_no_preflight_story():
    problem = only(judge(LESSON, pre(), resp(Access_Control_Allow_Credentials="True")))
    assert problem.message == (
        'expected the GET answer to have Access-Control-Allow-Credentials: "true" because the page sends '
        'credentials (exactly, lowercase), saw "True"'
    )
    assert "supports_credentials=True" in problem.hint


@pytest.mark.parametrize(
    "value, code, seen, hint",
    [
        (None, "allow-origin-missing", "saw no such header", "from flask_cors import CORS"),
        ("*", "allow-origin-wildcard", 'saw "*"', "send_wildcard"),
        (ORIGIN + "/", "allow-origin-mismatch", 'saw "http://127.0.0.1:4100/"', "origins=['http://127.0.0.1:4100']"),
        (f"{ORIGIN}, {ORIGIN}", "allow-origin-multiple", f'saw "{ORIGIN}, {ORIGIN}"', "one place"),
    ],
)
def test_allow_origin_messages(value, code, seen, hint):
    problem = only(judge(LESSON, pre(), resp(Access_Control_Allow_Origin=value, Vary="Origin")))
    assert (problem.stage, problem.code) == (R, code)
    assert f'expected the GET answer to have Access-Control-Allow-Origin: "{ORIGIN}"' in problem.message
    assert seen in problem.message
    assert hint in problem.hint


def test_header_messages_explain_the_wildcard():
    problem = only(judge(LESSON, pre(Access_Control_Allow_Headers="*"), resp()))
    assert (
        'to list Content-Type in Access-Control-Allow-Headers (* does not count with credentials), saw "*"'
        in problem.message
    )
    authorization = CorsRequest(ORIGIN, headers=("Authorization: Basic x",), credentials=False)
    problem = only(judge(authorization, pre(Access_Control_Allow_Headers="*"), resp()))
    assert "to list Authorization in Access-Control-Allow-Headers (* never covers Authorization)" in problem.message


def test_invalid_list_message_quotes_the_item():
    problem = only(judge(LESSON, pre(Access_Control_Allow_Headers="['Content-Type']"), resp()))
    assert "Access-Control-Allow-Headers" in problem.message
    assert "saw \"['Content-Type']\" (\"['Content-Type']\" is not a name)" in problem.message
    assert "str(['Content-Type'])" in problem.hint


def test_lowercase_patch_hint():
    problem = only(judge(CorsRequest(ORIGIN, method="patch"), pre(), resp()))
    assert problem.code == "method-not-allowed"
    assert "method: 'PATCH'" in problem.hint


def test_vary_warning_text():
    (warning,) = judge(LESSON, pre(), resp(Vary="Accept-Encoding")).warnings
    assert warning.startswith(
        f'expected the GET answer, which echoes Access-Control-Allow-Origin: "{ORIGIN}", '
        'to have Vary: Origin, saw "Accept-Encoding"'
    )


def test_missing_answers_messages():
    verdict = judge(LESSON, None, None)
    assert verdict.at(P)[0].message.startswith('expected an answer to the OPTIONS "preflight", saw none; the browser')
    assert "Content-Type: application/json" in verdict.at(P)[0].message
    assert verdict.at(R)[0].message == "expected an answer to the GET request, saw none"
    assert verdict.warnings == ()


def test_verdict_at_and_ok():
    verdict = judge(LESSON, pre(301), resp(Access_Control_Allow_Origin="*"))
    assert [p.code for p in verdict.at(P)] == ["preflight-status"]
    assert [p.code for p in verdict.at(R)] == ["allow-origin-wildcard"]
    assert verdict.at("other") == ()
    assert not verdict.ok
    assert Verdict(False).ok
