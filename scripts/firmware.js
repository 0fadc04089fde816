// Firmware upgrade by version policy.
//
// lib/firmware.json lists, per product class (and optionally OUI), the
// target version and its image: "file", the name (or ID) of a file stored
// in the ACS (provisor file upload IMAGE --type "1 Firmware Upgrade
// Image"), or "url", an image on another server. A device whose software
// version is older than the target (by provisor.version.compare: "7.10"
// is newer than "7.9", "7.1rc1" older than "7.1") gets a Download, in a
// boot session or in a periodic session inside the maintenance window.
// Devices older than "minimum" are left alone: they need a stepping-stone
// image first. A failed download is retried at most three times per
// target.
const provisor = require("provisor");
const config = require("./lib/config");

/**
 * @typedef {object} Policy
 * @property {string} productClass
 * @property {string} [oui]
 * @property {string} target     the version to upgrade to
 * @property {string} [minimum]  the oldest version that may upgrade directly
 * @property {string} [file]     the image in the ACS's file store, by name or ID
 * @property {string} [url]      or the image elsewhere
 * @property {number} [fileSize] with url: the image's size, if known
 */

/** @type {Policy[]} */
const policies = require("./lib/firmware.json").policies;

const MAX_ATTEMPTS = 3;

/** @param {import("provisor").Session} s */
function policyFor(s) {
  return policies.find(
    (p) => p.productClass === s.device.productClass && (!p.oui || p.oui === s.device.oui),
  );
}

/** @param {import("provisor").Session} s */
function inWindow(s) {
  const h = new Date().getUTCHours(); // the session's start: Date is fixed per session
  const { from, to } = config.maintenanceWindow;
  return from <= to ? h >= from && h < to : h >= from || h < to;
}

/** @param {import("provisor").Session} s */
function upgrade(s) {
  const policy = policyFor(s);
  if (!policy) return;
  const current = String(s.device.get(s.device.root + "DeviceInfo.SoftwareVersion") || "");
  const { version } = provisor;
  if (!current || version.gte(current, policy.target)) {
    if (s.store.get("firmware")) s.store.delete("firmware");
    return;
  }
  if (policy.minimum && version.lt(current, policy.minimum)) {
    s.log.warn("firmware too old for a direct upgrade", { current, minimum: policy.minimum });
    return;
  }
  const state = s.store.get("firmware") || { target: policy.target, attempts: 0 };
  if (state.target !== policy.target) Object.assign(state, { target: policy.target, attempts: 0 });
  if (state.pending) return; // a download is under way
  if (state.attempts >= MAX_ATTEMPTS) {
    s.log.warn("firmware upgrade given up", { target: policy.target, attempts: state.attempts });
    return;
  }
  const fileType = "1 Firmware Upgrade Image";
  let r;
  if (policy.file) {
    r = s.device.download({ fileType, file: policy.file });
  } else if (policy.url) {
    r = s.device.download({ fileType, url: policy.url, fileSize: policy.fileSize || 0 });
  } else {
    s.log.error("firmware policy names no image: give file or url", { productClass: policy.productClass, target: policy.target });
    return;
  }
  state.pending = r.commandKey;
  state.attempts += 1;
  s.store.set("firmware", state);
  s.log.info("firmware upgrade started", { from: current, to: policy.target, commandKey: r.commandKey });
}

provisor.on("1 BOOT", upgrade);

provisor.on("2 PERIODIC", (s) => {
  if (inWindow(s)) upgrade(s);
});

provisor.on("transferComplete", (s, tc) => {
  const state = s.store.get("firmware");
  if (!state || state.pending !== tc.commandKey) return;
  delete state.pending;
  s.store.set("firmware", state);
  if (tc.faultCode !== 0) {
    s.log.warn("firmware download failed", { code: tc.faultCode, message: tc.faultString, attempt: state.attempts });
  } else {
    s.log.info("firmware downloaded", { target: state.target });
  }
});
