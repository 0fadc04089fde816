// Small helpers over the device API shared by the bundled scripts.

/**
 * Reads a parameter below the device's root, whichever data model it uses.
 * @param {import("provisor").Session} s
 * @param {string} rel path relative to the root, e.g. "DeviceInfo.UpTime"
 */
function get(s, rel) {
  return s.device.get(s.device.root + rel);
}

/**
 * Refreshes a list of parameters; names the device does not know (fault
 * 9005) are skipped one by one instead of failing the whole batch.
 * @param {import("provisor").Session} s
 * @param {string[]} paths
 * @returns {number} how many values were read
 */
function refreshAll(s, paths) {
  const { CwmpFault } = require("provisor");
  try {
    return Object.keys(s.device.getValues(paths)).length;
  } catch (e) {
    if (!(e instanceof CwmpFault) || e.code !== 9005) throw e;
  }
  let n = 0;
  for (const p of paths) {
    try {
      n += s.device.refresh(p);
    } catch (e) {
      if (!(e instanceof CwmpFault) || e.code !== 9005) throw e;
      s.log.debug("parameter not supported", { path: p });
    }
  }
  return n;
}

/**
 * Hours since a time stored with Date.now(), or Infinity if never.
 * @param {number | undefined} then
 */
function hoursSince(then) {
  if (typeof then !== "number") return Infinity;
  return (Date.now() - then) / 3600e3;
}

module.exports = { get, refreshAll, hoursSince };
