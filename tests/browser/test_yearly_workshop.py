"""A tenant organisation's yearly workshop in Chromium, end to end.

Last year's session (run 1): the facilitator sets three groups and a threshold of 2 on the demo
presentation, dates the run, presents it and moves to the SMART question. Three phones join
through the QR link, pick a group (two "huurder", one "corporatie") and vote; the projector
splits the results by group ("g"), with "te weinig stemmen" for corporatie. After a reset the
phones vote again and "v" puts round 1 beside round 2. This year's session (run 2) is made
from the runs card with its own date, place and code; the same phones join it and vote. Run 1
stays as it was; the comparison page (each run's latest round), run 1's report printed to an A4
PDF (both rounds), and every download of run 1 (both rounds, per group) must hold exactly the
votes this test cast: the expected numbers are computed here from the test's own list of votes.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, BrowserContext, Page, expect
from pypdf import PdfReader

from app.i18n import translate, translations
from tests.browser.support import (
    ARTIFACTS,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    DEMO_TITLE,
    Screenshots,
    Server,
)
from tests.browser.test_session import (
    DESKTOP,
    PHONE_A,
    Q_SINGLE,
    SINGLE_OPTIONS,
    Watched,
    choose,
    nl,
    send_vote,
)

pytestmark = pytest.mark.browser

A4 = (595.0, 842.0)  # points
THRESHOLD = 2
GROUPS = ["huurder", "corporatie", "gemeente"]
PHONES = ["phone A", "phone B", "phone C"]
OPT = SINGLE_OPTIONS  # the SMART question's four options, in order

# Run 1 (last year): who is in which group, and what each phone answers in each round.
DATE_1, PLACE_1 = date(2025, 11, 27), "Buurthuis De Linde"
GROUP_1 = {"phone A": "huurder", "phone B": "huurder", "phone C": "corporatie"}
ROUNDS_1 = {
    1: {"phone A": OPT[0], "phone B": OPT[1], "phone C": OPT[1]},
    2: {"phone A": OPT[1], "phone B": OPT[2], "phone C": OPT[2]},
}
# Run 2 (this year): the same people; phone C now comes for the municipality.
DATE_2, PLACE_2 = date(2026, 11, 26), "Wijkcentrum Het Anker"
GROUP_2 = {"phone A": "huurder", "phone B": "huurder", "phone C": "gemeente"}
VOTES_2 = {"phone A": OPT[0], "phone B": OPT[0], "phone C": OPT[3]}


# --- what the votes must give --------------------------------------------------------------


def counted(
    votes: dict[str, str], groups: dict[str, str], group: str | None = None
) -> tuple[int, list[int]]:
    """(responses, count per option) of everyone, or of one group."""
    voters = [p for p in votes if group is None or groups[p] == group]
    tally = Counter(votes[p] for p in voters)
    return len(voters), [tally[o] for o in OPT]


def percents(votes: dict[str, str], groups: dict[str, str], group: str | None = None) -> list[str]:
    """The projector's shares: whole percentages."""
    n, counts = counted(votes, groups, group)
    return [f"{round(100 * c / n)}%" for c in counts]


def shares(votes: dict[str, str], groups: dict[str, str]) -> list[float]:
    n, counts = counted(votes, groups)
    return [c / n for c in counts]


def summary_expected(
    rounds: dict[int, dict[str, str]], groups: dict[str, str]
) -> list[tuple[object, ...]]:
    """The summary rows of the SMART question: per round everyone, then each group that
    answered; a group under the threshold as one row without numbers.
    (round, group, answer, responses, count, share, mean, spread, of which on paper)"""
    rows: list[tuple[object, ...]] = []
    for number, votes in sorted(rounds.items()):
        for group in [None, *GROUPS]:
            n, counts = counted(votes, groups, group)
            name = nl("Everyone") if group is None else group
            if group is not None and n == 0:
                continue
            if group is not None and n < THRESHOLD:
                rows.append((number, name, nl("too few votes"), *([None] * 6)))
                continue
            for label, c in zip(OPT, counts, strict=True):
                paper = 0 if group is None else None
                rows.append((number, name, label, n, c, round(100 * c / n, 1), None, None, paper))
    return rows


def raw_expected(rounds: dict[int, dict[str, str]], groups: dict[str, str]) -> Counter[object]:
    """Per participant: their group and their answer in each round (who voted what when)."""
    return Counter((groups[p], tuple((n, rounds[n][p]) for n in sorted(rounds))) for p in PHONES)


# --- steps -----------------------------------------------------------------------------------


@pytest.fixture
def screens(chromium: Browser) -> Iterator[dict[str, BrowserContext]]:
    made = {"facilitator": chromium.new_context(**DESKTOP)}  # type: ignore[arg-type]
    for name in PHONES:
        made[name] = chromium.new_context(**PHONE_A)  # type: ignore[arg-type]
    try:
        yield made
    finally:
        for context in made.values():
            context.close()


def log_in(page: Page, base: str) -> int:
    page.goto(f"{base}/login")
    page.locator("#email").fill(DEMO_EMAIL)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.get_by_role("link", name=DEMO_TITLE, exact=True).click()
    return int(page.url.rsplit("/", 1)[1])


def present_single(page: Page, base: str, presentation_id: int) -> None:
    """Start presenting from the presentation page and move on to the SMART question."""
    page.goto(f"{base}/manage/presentations/{presentation_id}")
    page.locator(".heading-row form[action$='/move'] button[type=submit]").click()
    expect(page).to_have_url(f"{base}/present/{presentation_id}")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#stage h1.question-title")).to_have_text(Q_SINGLE)


def join(context: BrowserContext, name: str, url: str, group: str) -> Watched:
    """A phone opens `url`, picks its group (one tap) and lands on the question."""
    phone = Watched(context.new_page(), name)
    phone.page.goto(url)
    buttons = phone.page.locator("form[action$='/group'] button[name=group]")
    expect(buttons).to_have_text([*GROUPS, nl("I'd rather not say")])
    buttons.filter(has_text=re.compile(rf"^\s*{group}\s*$")).tap()
    expect(phone.page.locator("#question-title")).to_have_text(Q_SINGLE)
    expect(phone.page.locator(".group-choice")).to_contain_text(group)
    expect(phone.page.locator("#connection")).to_have_attribute("data-state", "online")
    return phone


def vote_all(phones: dict[str, Watched], votes: dict[str, str], projector: Page) -> None:
    for name, label in votes.items():
        choose(phones[name], [label])
        send_vote(phones[name])
    expect(projector.locator("#response-count strong")).to_have_text(str(len(votes)))


def download(page: Page, href: str) -> bytes:
    """Follow a download link of the page, as the organiser clicks it."""
    link = page.locator(f"a[href='{href}']")
    expect(link).to_have_count(1)
    with page.expect_download() as info:
        link.click()
    path = info.value.path()
    assert path is not None, f"{href}: no file"
    return Path(path).read_bytes()


def number(cell: object) -> object:
    """A CSV cell as the value it stands for: "" is no number, "33,3" and "33.3" are 33.3."""
    if cell in ("", None):
        return None
    text = str(cell).replace(",", ".")
    return float(text) if "." in text else int(text)


def smart_rows(rows: Sequence[Sequence[object]]) -> list[tuple[object, ...]]:
    """The summary rows of the SMART question (question number 2), without number and title."""
    found = [r for r in rows if str(r[0]) == "2"]
    assert found and all(r[2] == Q_SINGLE for r in found), found
    return [(int(str(r[1])), r[4], r[5], *(number(c) for c in r[6:12])) for r in found]


def check_summary(rows: Sequence[Sequence[object]], where: str) -> None:
    header, body = rows[0], rows[1:]
    assert [str(h) for h in header[:6]] == [
        nl("Question number"),
        nl("Round"),
        nl("Question"),
        nl("Question type"),
        nl("Group"),
        nl("Answer"),
    ], f"{where}: {header}"
    got = smart_rows(body)
    want = summary_expected(ROUNDS_1, GROUP_1)
    assert got == want, f"{where}: the SMART question's rows\n{got}\nexpected\n{want}"
    # Nobody answered the other questions in run 1 (and run 2's votes never show up here).
    others = [r for r in body if str(r[0]) != "2"]
    assert others, f"{where}: the other questions are missing"
    assert all(number(r[7]) in (0, None) for r in others), f"{where}: {others}"
    assert not any(r[4] == "gemeente" for r in body), f"{where}: gemeente had nobody in run 1"


def check_raw(text: str, delimiter: str, where: str) -> None:
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    assert len(rows[0]) == 12, f"{where}: header {rows[0]}"
    assert rows[0][2] == nl("Round") and rows[0][10] == nl("Group"), f"{where}: {rows[0]}"
    body = rows[1:]
    assert len(body) == sum(len(v) for v in ROUNDS_1.values()), f"{where}: {len(body)} rows"
    group_of: dict[str, str] = {}
    answers: dict[str, dict[int, str]] = {}
    for row in body:
        assert row[0] == DEMO_TITLE and row[1] == "2" and row[3] == Q_SINGLE, f"{where}: {row}"
        assert row[11] == nl("phone"), f"{where}: {row}"
        who, number_of_round = row[5], int(row[2])
        assert group_of.setdefault(who, row[10]) == row[10], f"{where}: two groups: {row}"
        mine = answers.setdefault(who, {})
        assert number_of_round not in mine, f"{where}: twice in round {number_of_round}: {row}"
        mine[number_of_round] = row[6]
    got = Counter((group_of[who], tuple(sorted(mine.items()))) for who, mine in answers.items())
    want = raw_expected(ROUNDS_1, GROUP_1)
    assert got == want, f"{where}: who voted what\n{got}\nexpected\n{want}"


# --- the workshop ----------------------------------------------------------------------------


def test_yearly_workshop_end_to_end(
    server: Server, screens: dict[str, BrowserContext], shoot: Screenshots
) -> None:
    base = server.base_url
    facilitator = Watched(screens["facilitator"].new_page(), "facilitator")
    page = facilitator.page
    first_id = log_in(page, base)
    manage_1 = f"{base}/manage/presentations/{first_id}"

    # 1. Groups and threshold, then the run's date and place, all through the page's forms.
    Watched.step = "set up run 1"
    groups_form = page.locator("form:has(#g-groups)")
    groups_form.locator("#g-groups").fill("\n".join(GROUPS))
    groups_form.locator("#g-threshold").fill(str(THRESHOLD))
    groups_form.locator("button[type=submit]").click()
    expect(page.locator("#g-groups")).to_have_value("\n".join(GROUPS))
    expect(page.locator("#g-threshold")).to_have_value(str(THRESHOLD))
    run_form = page.locator("form:has(#run-date)")
    run_form.locator("#run-date").fill(DATE_1.isoformat())
    run_form.locator("#run-place").fill(PLACE_1)
    run_form.locator("button[type=submit]").click()
    expect(page).to_have_url(manage_1)
    expect(page.locator("#run-date")).to_have_value(DATE_1.isoformat())
    expect(page.locator("#run-place")).to_have_value(PLACE_1)

    present_single(page, base, first_id)
    projector = page
    qr = projector.locator("img.qr").first.get_attribute("src") or ""
    token = re.fullmatch(r"/qr/l/([^/]+)\.svg", qr)
    assert token, f"the projector's QR code: {qr!r}"
    code_1 = projector.locator("#join-code").inner_text().replace(" ", "")

    # 2. Three phones scan the QR code, pick their group and vote.
    Watched.step = "run 1, round 1"
    watched = [facilitator]
    phones = {
        name: join(screens[name], name, f"{base}/l/{token.group(1)}", GROUP_1[name])
        for name in PHONES
    }
    vote_all(phones, ROUNDS_1[1], projector)

    projector.locator("body").press("g")
    stage = projector.locator("#stage")
    expect(stage).to_have_attribute("data-split", "on")
    # Columns: everyone and huurder; corporatie (one vote) is under the threshold.
    expect(stage.locator(".split-table thead th")).to_have_count(2)
    expect(stage.locator("td.split-cell[data-everyone] .split-value")).to_have_text(
        percents(ROUNDS_1[1], GROUP_1)
    )
    expect(stage.locator('td.split-cell[data-group="huurder"] .split-value')).to_have_text(
        percents(ROUNDS_1[1], GROUP_1, "huurder")
    )
    expect(stage.locator('.split-table [data-group="corporatie"]')).to_have_count(0)
    small = stage.locator('li.too-few[data-group="corporatie"]')
    expect(small).to_have_count(1)
    expect(small).to_contain_text(nl("too few votes"))
    expect(small).to_have_text(re.compile(r"^\D*$"))  # no numbers at all
    projector.mouse.move(0, 0)
    shoot(projector, "workshop-projector-split")
    projector.locator("body").press("g")
    expect(stage).to_have_attribute("data-split", "off")

    # 3. Round 2: the projector's reset with its confirmation; the phones vote again.
    Watched.step = "run 1, round 2"
    projector.locator("a[href$='?reset=1']").first.click()
    projector.locator("#confirm-reset-yes").click()
    expect(projector.locator("#round")).to_have_text(nl("Round %(n)s", n=2))
    for phone in phones.values():
        expect(phone.page.locator("#stage")).to_have_attribute("data-round", "2")
    vote_all(phones, ROUNDS_1[2], projector)

    projector.locator("body").press("v")
    expect(stage).to_have_attribute("data-compare", "on")
    lines = stage.locator(".rounds-table tbody tr")
    expect(lines).to_have_count(len(OPT))
    expect(lines.locator(".round-before")).to_have_text(percents(ROUNDS_1[1], GROUP_1))
    expect(lines.locator(".round-after")).to_have_text(percents(ROUNDS_1[2], GROUP_1))
    before, after = shares(ROUNDS_1[1], GROUP_1), shares(ROUNDS_1[2], GROUP_1)
    want_shift = []
    for b, a in zip(before, after, strict=True):
        pp = round((a - b) * 100)
        want_shift.append(f"{'+' if pp > 0 else ''}{pp} {translate('nl', 'pp')}")
    got_shift = [" ".join(t.split()) for t in lines.locator(".shift-text").all_inner_texts()]
    assert got_shift == want_shift, (got_shift, want_shift)
    projector.mouse.move(0, 0)
    shoot(projector, "workshop-projector-rounds")
    projector.locator("body").press("v")
    expect(stage).to_have_attribute("data-compare", "off")
    watched += phones.values()
    for phone in phones.values():
        phone.page.close()

    # 4. This year's session: a new run from the runs card, with its own date, place and code.
    Watched.step = "run 2"
    page.goto(manage_1)
    new_run = page.locator("form:has(#new-run-date)")
    new_run.locator("#new-run-date").fill(DATE_2.isoformat())
    new_run.locator("#new-run-place").fill(PLACE_2)
    new_run.locator("button[type=submit]").click()
    expect(page).not_to_have_url(manage_1)
    second_id = int(page.url.rsplit("/", 1)[1])
    assert second_id != first_id
    expect(page.locator("#run-date")).to_have_value(DATE_2.isoformat())
    expect(page.locator("#g-groups")).to_have_value("\n".join(GROUPS))
    expect(page.locator("#g-threshold")).to_have_value(str(THRESHOLD))
    present_single(page, base, second_id)
    code_2 = projector.locator("#join-code").inner_text().replace(" ", "")
    assert code_2 and code_2 != code_1, (code_1, code_2)
    phones = {
        name: join(screens[name], name, f"{base}/p/{code_2}", GROUP_2[name]) for name in PHONES
    }
    vote_all(phones, VOTES_2, projector)
    watched += phones.values()
    for phone in phones.values():
        phone.page.close()

    # Run 1 is unchanged: its participants and its question's count are its own.
    page.goto(f"{base}/manage/presentations/{first_id}/runs")
    runs_rows = page.locator("table.runs-table tbody tr")
    expect(runs_rows).to_have_count(2)
    expect(runs_rows.filter(has_text=PLACE_1).locator("td.num")).to_have_text(str(len(PHONES)))
    expect(runs_rows.filter(has_text=PLACE_2).locator("td.num")).to_have_text(str(len(VOTES_2)))
    page.goto(manage_1)
    single = page.locator("ol.questions li").filter(has_text=Q_SINGLE).locator(".q-count")
    expect(single).to_have_text(re.compile(rf"^{len(ROUNDS_1[2])}\b"))

    # 5. The comparison page: each run's last round, from the votes cast.
    Watched.step = "comparison"
    page.goto(f"{base}/manage/presentations/{second_id}/compare")
    section = page.locator("section.compare-question").filter(has_text=Q_SINGLE)
    expect(section).to_have_count(1)
    for run_id, votes, groups in (
        (first_id, ROUNDS_1[2], GROUP_1),
        (second_id, VOTES_2, GROUP_2),
    ):
        n, counts = counted(votes, groups)
        expect(section.locator(f"tr.responses td[data-run='{run_id}']")).to_have_text(str(n))
        cells = section.locator(f"tbody tr[data-key] td[data-run='{run_id}']")
        expect(cells).to_have_text([f"{round(100 * c / n)}% ({c})" for c in counts])
    changes = section.locator("tbody tr[data-key] td.change")
    first_shares, last_shares = shares(ROUNDS_1[2], GROUP_1), shares(VOTES_2, GROUP_2)
    expect(changes).to_have_text(
        [
            re.compile(rf"^{re.escape(format(round((b - a) * 100), '+d'))}\b")
            for a, b in zip(first_shares, last_shares, strict=True)
        ]
    )
    expect(page.locator(".compare-runs li")).to_have_count(2)
    shoot(page, "workshop-compare", full_page=True)

    # 6. Run 1's report, printed by Chromium to an A4 PDF and read back.
    Watched.step = "report"
    page.goto(manage_1)
    page.locator(f"a[href='/manage/presentations/{first_id}/report']").click()
    expect(page).to_have_url(f"{manage_1}/report")
    pdf_path = ARTIFACTS / "workshop-report.pdf"
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    page.pdf(path=str(pdf_path), format="A4", print_background=True)
    check_pdf(pdf_path)

    # 7. Every download of run 1, through the links on its page.
    Watched.step = "downloads"
    page.goto(manage_1)
    prefix = f"/manage/presentations/{first_id}"
    raw = download(page, f"{prefix}/export.csv").decode("utf-8")
    check_raw(raw, ",", "raw CSV")
    raw_excel = download(page, f"{prefix}/export.csv?excel=true").decode("utf-8")
    assert raw_excel.startswith("\ufeff"), "the CSV for Excel starts with a byte order mark"
    check_raw(raw_excel[1:], ";", "raw CSV for Excel")
    summary = download(page, f"{prefix}/summary.csv").decode("utf-8")
    check_summary(list(csv.reader(io.StringIO(summary, newline=""))), "summary CSV")
    summary_excel = download(page, f"{prefix}/summary.csv?excel=true").decode("utf-8")
    assert summary_excel.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(summary_excel[1:], newline=""), delimiter=";"))
    check_summary(rows, "summary CSV for Excel")

    book = load_workbook(io.BytesIO(download(page, f"{prefix}/export.xlsx")))
    assert book.sheetnames[0] == nl("Summary"), book.sheetnames
    sheet = book[book.sheetnames[0]]
    table = [[c.value for c in row] for row in sheet.iter_rows()]
    assert table[0][0] == DEMO_TITLE, table[0]
    assert [c for c in table[1] if c] == [DATE_1.isoformat(), PLACE_1], table[1]
    header = next(i for i, r in enumerate(table) if r[0] == nl("Question number"))
    check_summary(table[header:], "workbook")
    # Numbers stay numbers in the workbook.
    typed = [r for r in table[header + 1 :] if r[0] == 2 and r[4] == nl("Everyone")]
    assert typed and all(isinstance(r[6], int) and isinstance(r[7], int) for r in typed), typed

    errors = [f"{w.name}: {e}" for w in watched for e in w.errors]
    assert not errors, errors


def check_pdf(path: Path) -> None:
    reader = PdfReader(str(path))
    assert 1 <= len(reader.pages) <= 8, f"{len(reader.pages)} pages"
    for n, pdf_page in enumerate(reader.pages, 1):
        size = (float(pdf_page.mediabox.width), float(pdf_page.mediabox.height))
        assert abs(size[0] - A4[0]) <= 1 and abs(size[1] - A4[1]) <= 1, (n, size)
    text = unicodedata.normalize(
        "NFKC", " ".join(" ".join((p.extract_text() or "").split()) for p in reader.pages)
    )
    assert DEMO_TITLE in text, text
    assert DATE_1.strftime("%d-%m-%Y") in text, text
    assert PLACE_1 in text, text
    assert PLACE_2 not in text, "run 2's place in run 1's report"
    # Participants: the three phones; per group with the threshold rule.
    assert re.search(rf"{nl('Participants')}\s*{len(PHONES)}\b", text), text
    huurders = sum(1 for g in GROUP_1.values() if g == "huurder")
    assert re.search(rf"huurder\s*{huurders}\b", text), text
    assert re.search(rf"corporatie\s*{nl('too few votes')}", text), text
    rule = nl(
        "A group with fewer than %(n)s answers is not shown apart, so nobody can be singled out.",
        n=THRESHOLD,
    )
    assert rule in text, text
    # Each round of the SMART question: its responses, and each option's count and share.
    heading_2 = nl("round %(n)s", n=2)
    part_1, _, part_2 = text.partition(f"2 · {heading_2} {Q_SINGLE}")
    assert part_2, f"no section for round 2 of the SMART question:\n{text}"
    part_1 = part_1[part_1.rindex(f"2 {Q_SINGLE}") :]
    for part, votes in ((part_1, ROUNDS_1[1]), (part_2, ROUNDS_1[2])):
        n, counts = counted(votes, GROUP_1)
        many = translations("nl").ngettext("%(num)s response", "%(num)s responses", n)
        assert many % {"num": n} in part[:300], part[:300]
        for label, c in zip(OPT, counts, strict=True):
            share = f"{100 * c / n:.1f}".replace(".", ",")
            assert re.search(rf"{re.escape(label)}\s*{c}\s*{share}", part), (label, c, share, part)
        per_group = re.search(r"huurder: (\d+)", part)
        assert per_group and int(per_group.group(1)) == counted(votes, GROUP_1, "huurder")[0]
        assert f"corporatie: {nl('too few votes')}" in part, part
