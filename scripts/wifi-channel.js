// Wi-Fi channel optimisation for 2.4 GHz radios of TR-181 devices.
//
// Once a day a periodic session asks the device for a neighbour scan
// (Device.WiFi.NeighboringWiFiDiagnostic). The device reports the end of
// the scan with "8 DIAGNOSTICS COMPLETE"; the script then weighs the
// neighbours heard on each of the non-overlapping channels 1, 6 and 11
// and moves the radio to the quietest one when it beats the current
// channel by a margin. Devices tagged "wifi-manual" are left alone.
const provisor = require("provisor");
const config = require("./lib/config");
const { hoursSince } = require("./lib/device");

const DIAG = "Device.WiFi.NeighboringWiFiDiagnostic.";
const CHANNELS = [1, 6, 11];

/** @param {import("provisor").Session} s */
function managed(s) {
  return s.device.root === "Device." && !s.device.hasTag("wifi-manual");
}

provisor.on("2 PERIODIC", (s) => {
  if (!managed(s) || hoursSince(s.store.get("wifi.scanRequested")) < config.wifiScanEveryHours) return;
  s.device.set({ [DIAG + "DiagnosticsState"]: "Requested" });
  s.store.set("wifi.scanRequested", Date.now());
});

/**
 * Interference on a channel: the summed power (mW) of the neighbours whose
 * 20 MHz channel overlaps it (2.4 GHz channels 5 MHz apart, 4 apart do not
 * overlap).
 * @param {{channel: number, dbm: number}[]} neighbours
 * @param {number} channel
 */
function interference(neighbours, channel) {
  let mw = 1e-10; // the noise floor, about -100 dBm
  for (const n of neighbours) {
    if (Math.abs(n.channel - channel) < 5) mw += Math.pow(10, n.dbm / 10);
  }
  return 10 * Math.log10(mw);
}

provisor.on("8 DIAGNOSTICS COMPLETE", (s) => {
  if (!managed(s)) return;
  const results = s.device.getValues(DIAG + "Result.");
  /** @type {Record<string, {channel: number, dbm: number, band: string}>} */
  const byRow = {};
  for (const [path, value] of Object.entries(results)) {
    const m = /Result\.(\d+)\.(Channel|SignalStrength|OperatingFrequencyBand)$/.exec(path);
    if (!m) continue;
    const row = (byRow[m[1]] = byRow[m[1]] || { channel: 0, dbm: -100, band: "" });
    if (m[2] === "Channel") row.channel = Number(value);
    if (m[2] === "SignalStrength") row.dbm = Number(value);
    if (m[2] === "OperatingFrequencyBand") row.band = String(value);
  }
  const neighbours = Object.values(byRow).filter((n) => n.band === "2.4GHz" && n.channel > 0);

  const radios = s.device.getValues("Device.WiFi.Radio.");
  for (const [path, band] of Object.entries(radios)) {
    if (!path.endsWith(".OperatingFrequencyBand") || band !== "2.4GHz") continue;
    const radio = path.slice(0, -"OperatingFrequencyBand".length);
    const current = Number(radios[radio + "Channel"]);
    let best = current;
    for (const ch of CHANNELS) if (interference(neighbours, ch) < interference(neighbours, best)) best = ch;
    const gain = interference(neighbours, current) - interference(neighbours, best);
    if (best === current || gain < config.wifiMarginDb) {
      s.log.info("Wi-Fi channel kept", { radio, channel: current, neighbours: neighbours.length });
      continue;
    }
    s.device.set({ [radio + "AutoChannelEnable"]: false, [radio + "Channel"]: best });
    s.log.info("Wi-Fi channel changed", { radio, from: current, to: best, gainDb: Math.round(gain) });
  }
});
