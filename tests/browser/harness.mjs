// What the player scripts share: Debian's headless Chromium (CHROMIUM names another) on
// the app's page, whose HLS.js a script drives; the script's `window.report` polled until
// playback is fatal or has ended, or the deadline passes; the last report printed as one
// JSON line for tests/suite/browser.rs.
import { chromium } from "playwright-core";

// Opens the app at `base`, runs `start(page)` (which sets `window.report` and starts
// playing), then reads the report every 250 ms for up to `deadlineMs` and prints it.
export async function playAndReport(base, deadlineMs, start) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
  });
  let report = null;
  try {
    const page = await browser.newPage();
    await page.goto(`${base}/`);
    await start(page);
    const until = Date.now() + deadlineMs;
    while (Date.now() < until) {
      report = await page.evaluate(() => window.report);
      if (report.fatal || report.ended) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(report));
}
