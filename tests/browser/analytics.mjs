// A viewer plays a video in the web app and pauses it; the player's heartbeats are
// recorded as they go out; then its creator opens the video's analytics in the Studio.
// Reports, as one JSON line, the beats sent (with their answers) and what the charts show.
// Run by tests/suite/analytics.rs.
//
// usage: node analytics.mjs BASE_URL VIDEO_ID CREATOR_EMAIL CREATOR_PASSWORD
import { chromium } from "playwright-core";

const [base, videoId, email, password] = process.argv.slice(2);
const PLAY_S = 4;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
});
const report = { beats: [], fatal: null, errors: [], chart: null };
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("pageerror", (error) => report.errors.push(String(error)));
  page.on("response", async (response) => {
    if (!response.url().endsWith("/heartbeats")) return;
    let answer = null;
    try { answer = await response.json(); } catch { /* a beacon's answer may be gone */ }
    report.beats.push({ status: response.status(), body: JSON.parse(response.request().postData() || "null"), answer });
  });
  // The viewer: anonymous, in the web app's own player.
  await page.goto(`${base}/#/watch/${videoId}`);
  await page.waitForSelector(".player video");
  await page.evaluate(() => { document.querySelector(".player video").muted = true; });
  await page.evaluate(() => document.querySelector(".player video").play().catch(() => {}));
  await page.waitForFunction((seconds) => document.querySelector(".player video").currentTime >= seconds, PLAY_S, { timeout: 60_000 });
  await page.evaluate(() => document.querySelector(".player video").pause());
  // The pause beat has gone out and been answered.
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !report.beats.some((b) => b.body?.watched_s > 0 && b.status === 202)) {
    await page.waitForTimeout(100);
  }

  // The creator signs in and opens the video's analytics.
  const login = await page.evaluate(async ([email, password]) => {
    const response = await fetch("/api/v1/auth/login", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ email, password }),
    });
    return response.status;
  }, [email, password]);
  if (login !== 200) throw new Error(`sign-in answered ${login}`);
  // A fresh load (not a change of the hash), so the app starts signed in.
  await page.goto("about:blank");
  await page.goto(`${base}/#/studio/analytics/${videoId}?days=7`);
  await page.waitForSelector('[data-chart="views"] svg rect.bar', { state: "attached", timeout: 30_000 });
  report.chart = await page.evaluate(() => {
    const bars = (name) => [...document.querySelectorAll(`[data-chart="${name}"] svg rect.bar`)]
      .map((bar) => ({ day: bar.dataset.label, value: Number(bar.dataset.value), height: Number(bar.getAttribute("height")) }));
    return { views: bars("views"), watch: bars("watch"), totals: document.querySelector('[aria-label="Totals"]')?.innerText };
  });
} catch (error) {
  report.fatal = `${error} (at ${browser.contexts()[0]?.pages()[0]?.url()})`;
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
