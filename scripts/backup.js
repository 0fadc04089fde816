// Configuration backup: every few days (config.backupEveryDays), a
// periodic session asks the device to upload its configuration file into
// the ACS's file store (or to config.backupURL, when set). The outcome
// arrives later as a TransferComplete.
const provisor = require("provisor");
const config = require("./lib/config");
const { hoursSince } = require("./lib/device");

const FILE_TYPE = "1 Vendor Configuration File";

provisor.on("2 PERIODIC", (s) => {
  const state = s.store.get("backup") || {};
  if (hoursSince(state.last) < config.backupEveryDays * 24 || hoursSince(state.requested) < 24) return;
  let r, where;
  if (config.backupURL) {
    const stamp = new Date().toISOString().replace(/[-:]/g, "").slice(0, 15);
    where = `${config.backupURL}/${encodeURIComponent(s.device.id)}/${stamp}.cfg`;
    r = s.device.upload({ fileType: FILE_TYPE, url: where });
  } else {
    where = "file store";
    r = s.device.upload({ fileType: FILE_TYPE });
  }
  s.store.set("backup", { last: state.last, requested: Date.now(), commandKey: r.commandKey, where });
  s.log.info("configuration backup requested", { to: where, commandKey: r.commandKey });
}, { order: 10 });

provisor.on("transferComplete", (s, tc) => {
  const state = s.store.get("backup");
  if (!state || state.commandKey !== tc.commandKey) return;
  if (tc.faultCode === 0) {
    s.store.set("backup", { last: Date.now(), commandKey: tc.commandKey, where: state.where });
    s.log.info("configuration backup stored", { to: state.where, commandKey: tc.commandKey });
  } else {
    s.store.set("backup", { last: state.last });
    s.log.warn("configuration backup failed", { code: tc.faultCode, message: tc.faultString });
  }
});
