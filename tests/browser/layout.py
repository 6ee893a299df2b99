"""Layout checks measured in the browser: readable phones, a projector readable from afar."""

from __future__ import annotations

from playwright.sync_api import Page

PHONE_MIN_TEXT_PX = 18
PHONE_MIN_TARGET_PX = 44
# On the projector, sizes relative to the screen height (720 px: title 40 px, numbers 27 px).
TITLE_MIN_SHARE = 0.055
NUMBER_MIN_SHARE = 0.038

_PHONE_PROBLEMS = """
([minText, minTarget]) => {
  const problems = [];
  const shown = (el) => el.getClientRects().length > 0
    && getComputedStyle(el).visibility !== "hidden" && !el.closest(".visually-hidden");
  for (const el of document.body.querySelectorAll("*")) {
    if (!shown(el)) continue;
    const ownText = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (ownText && size < minText) {
      problems.push(`text ${size}px < ${minText}px: ${el.tagName.toLowerCase()}.${el.className} `
        + JSON.stringify(el.textContent.trim().slice(0, 40)));
    }
  }
  const targets = "button, a.button, label.choice, .scale-point > span, textarea, "
    + "input:not([type=hidden]):not([type=radio]):not([type=checkbox])";
  for (const el of document.querySelectorAll(targets)) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.height < minTarget || r.width < minTarget) {
      problems.push(`target ${Math.round(r.width)}x${Math.round(r.height)} < ${minTarget}px: `
        + `${el.tagName.toLowerCase()}.${el.className} ${JSON.stringify(el.textContent.trim())}`);
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) {
    problems.push(`page scrolls sideways: ${document.documentElement.scrollWidth}px wide `
      + `in a ${window.innerWidth}px window`);
  }
  return problems;
}
"""

_PROJECTOR_PROBLEMS = """
([titleShare, numberShare]) => {
  const problems = [];
  const h = window.innerHeight, w = window.innerWidth;
  const px = (el) => parseFloat(getComputedStyle(el).fontSize);
  const title = document.querySelector("#stage .question-title");
  if (title && px(title) < titleShare * h) {
    problems.push(`title ${px(title)}px < ${(titleShare * h).toFixed(1)}px`);
  }
  const numbers = "#response-count strong, .bar-count strong, .scale-numbers .mean strong";
  for (const el of document.querySelectorAll(numbers)) {
    if (px(el) < numberShare * h) {
      problems.push(`number ${px(el)}px < ${(numberShare * h).toFixed(1)}px: `
        + el.parentElement.className);
    }
  }
  const results = document.querySelector("#stage .results");
  const limit = results ? Math.min(results.getBoundingClientRect().bottom, h) : h;
  const items = ".question-title, .bar-row, .scale-legend, .scale-result, .cloud > li, .wall > li";
  for (const el of document.querySelectorAll(`#stage :is(${items})`)) {
    const r = el.getBoundingClientRect();
    if (r.bottom > limit + 1 || r.right > w + 1 || r.top < 0) {
      problems.push(`cut off: ${el.className} ${JSON.stringify(el.textContent.trim().slice(0, 40))}`
        + ` (bottom ${Math.round(r.bottom)} > ${Math.round(limit)})`);
    }
  }
  for (const el of document.querySelectorAll("#stage .status-bar, .join-bar")) {
    const r = el.getBoundingClientRect();
    if (r.bottom > h + 1 || r.right > w + 1) problems.push(`cut off: ${el.className}`);
  }
  return problems;
}
"""


def phone_problems(page: Page) -> list[str]:
    """Text smaller than 18px, touch targets smaller than 44px, sideways scrolling."""
    return list(page.evaluate(_PHONE_PROBLEMS, [PHONE_MIN_TEXT_PX, PHONE_MIN_TARGET_PX]))


def projector_problems(page: Page) -> list[str]:
    """A small title or small numbers, or results cut off at the edge of the screen."""
    return list(page.evaluate(_PROJECTOR_PROBLEMS, [TITLE_MIN_SHARE, NUMBER_MIN_SHARE]))
