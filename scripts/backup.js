// Configuration backup: every few days (config.backupEveryDays), a
// periodic session asks the device to upload its configuration file to
// config.backupURL. The outcome arrives later as a TransferComplete.
const provisor = require("provisor");
const config = require("./lib/config");
const { hoursSince } = require("./lib/device");

provisor.on("2 PERIODIC", (s) => {
  const state = s.store.get("backup") || {};
  if (hoursSince(state.last) < config.backupEveryDays * 24 || hoursSince(state.requested) < 24) return;
  const stamp = new Date().toISOString().replace(/[-:]/g, "").slice(0, 15);
  const url = `${config.backupURL}/${encodeURIComponent(s.device.id)}/${stamp}.cfg`;
  const r = s.device.upload({ fileType: "1 Vendor Configuration File", url });
  s.store.set("backup", { last: state.last, requested: Date.now(), commandKey: r.commandKey, url });
  s.log.info("configuration backup requested", { url });
}, { order: 10 });

provisor.on("transferComplete", (s, tc) => {
  const state = s.store.get("backup");
  if (!state || state.commandKey !== tc.commandKey) return;
  if (tc.faultCode === 0) {
    s.store.set("backup", { last: Date.now(), url: state.url });
    s.log.info("configuration backup stored", { url: state.url });
  } else {
    s.store.set("backup", { last: state.last });
    s.log.warn("configuration backup failed", { code: tc.faultCode, message: tc.faultString });
  }
});
