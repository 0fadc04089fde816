// Default provisioning: what every device gets.
//
//   0 BOOTSTRAP  periodic inform interval and per-device connection
//                request credentials (random, kept in s.store)
//   1 BOOT       refresh the software version, note upgrades
//   2 PERIODIC   refresh a small set of monitoring values
const provisor = require("provisor");
const config = require("./lib/config");
const { get, refreshAll } = require("./lib/device");

const ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/** @param {number} n */
function randomPassword(n) {
  // Math.random is seeded per device from the server's secret: the same
  // device gets the same password if the stored one is lost, and nobody
  // can derive it from the serial number.
  let out = "";
  for (let i = 0; i < n; i++) out += ALPHABET[Math.floor(Math.random() * ALPHABET.length)];
  return out;
}

provisor.on("0 BOOTSTRAP", (s) => {
  const ms = s.device.root + "ManagementServer.";
  let cr = s.store.get("connectionRequest");
  if (!cr) {
    cr = { username: s.device.serialNumber, password: randomPassword(config.passwordLength) };
    s.store.set("connectionRequest", cr);
  }
  s.device.set(
    {
      [ms + "PeriodicInformEnable"]: true,
      [ms + "PeriodicInformInterval"]: config.informInterval,
      [ms + "ConnectionRequestUsername"]: cr.username,
      [ms + "ConnectionRequestPassword"]: cr.password,
    },
    { parameterKey: "provisor-bootstrap" },
  );
  s.log.info("bootstrapped", { interval: config.informInterval });
}, { order: -10 });

provisor.on("1 BOOT", (s) => {
  const path = s.device.root + "DeviceInfo.SoftwareVersion";
  s.device.refresh(path);
  const version = s.device.get(path);
  const previous = s.store.get("softwareVersion");
  if (previous !== version) {
    s.store.set("softwareVersion", version);
    if (previous !== undefined) s.log.info("software version changed", { from: previous, to: version });
  }
}, { order: -10 });

provisor.on("2 PERIODIC", (s) => {
  const n = refreshAll(s, config.monitoring.map((p) => s.device.root + p));
  s.log.debug("monitoring refreshed", { values: n, uptime: get(s, "DeviceInfo.UpTime") });
});
