// Settings shared by the bundled scripts. Edit them here rather than in
// the scripts, so that an upgrade of the scripts keeps your settings.
module.exports = {
  // Seconds between periodic Informs, set at bootstrap.
  informInterval: 900,
  // Length of the per-device connection request password.
  passwordLength: 20,
  // Monitoring values refreshed in every periodic session, relative to
  // the device's root ("Device." or "InternetGatewayDevice.").
  monitoring: [
    "DeviceInfo.UpTime",
    "DeviceInfo.MemoryStatus.Free",
    "DeviceInfo.ProcessStatus.CPUUsage",
  ],
  // Firmware upgrades start in boot sessions, and in periodic sessions
  // only inside this window of UTC hours [from, to).
  maintenanceWindow: { from: 1, to: 5 },
  // Where devices upload their configuration backups. Empty: into the
  // ACS's own file store (the server needs files.base_url), where
  // `provisor file list --device ID` finds them. Or the URL of a file
  // server that accepts PUT; the device ID and a time stamp are appended.
  backupURL: "",
  // Days between two configuration backups of a device.
  backupEveryDays: 7,
  // Wi-Fi channel optimisation: at most one neighbour scan per device in
  // this many hours, and only switch when the best channel is this many
  // dB quieter than the current one.
  wifiScanEveryHours: 24,
  wifiMarginDb: 6,
};
