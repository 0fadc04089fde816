// Type definitions for Provisor provisioning scripts.
//
// Scripts are CommonJS files run by Provisor's embedded JavaScript engine
// (ECMAScript 2020 or so, no Node.js): `require` reaches relative files of
// the scripts directory and the modules declared here, nothing of the host.
// Handlers run synchronously: a device call returns when the device has
// answered. See docs/scripts.md.
//
// Editors pick these types up through a jsconfig.json or tsconfig.json
// with "allowJs", "checkJs" and this file in "include"; scripts/types/check
// holds the configuration the project's own test uses.

declare module "provisor" {
  /** A value read from or written to a device. Integer types arrive as numbers, booleans as booleans, everything else as strings. */
  type Value = string | number | boolean;

  /** A value with an explicit CWMP type, for parameters the data model does not know. */
  interface TypedValue {
    value: Value | Date;
    type: "string" | "int" | "unsignedInt" | "long" | "unsignedLong" | "boolean" | "dateTime" | "base64" | "hexBinary";
  }

  /** Standard event codes; method ("M Reboot") and vendor ("X 000C42 Name") codes are accepted too. */
  type StandardEvent =
    | "0 BOOTSTRAP" | "1 BOOT" | "2 PERIODIC" | "3 SCHEDULED" | "4 VALUE CHANGE" | "5 KICKED"
    | "6 CONNECTION REQUEST" | "7 TRANSFER COMPLETE" | "8 DIAGNOSTICS COMPLETE" | "9 REQUEST DOWNLOAD"
    | "10 AUTONOMOUS TRANSFER COMPLETE" | "11 DU STATE CHANGE COMPLETE" | "12 AUTONOMOUS DU STATE CHANGE COMPLETE"
    | "13 WAKEUP" | "14 HEARTBEAT"
    | "M Reboot" | "M ScheduleInform" | "M Download" | "M Upload" | "M ScheduleDownload" | "M ChangeDUState";

  /** Device filters and ordering of a handler. Filters compare case-insensitively; a list matches any of its values. */
  interface Options {
    oui?: string | string[];
    productClass?: string | string[];
    manufacturer?: string | string[];
    /** DeviceInfo.ModelName */
    model?: string | string[];
    /** The device has one of these tags. */
    tag?: string | string[];
    /** Parameters (as the ACS knows them) must have one of the values. */
    where?: Record<string, Value | Value[]>;
    /** Lower runs first; equal orders run in load order. Default 0. */
    order?: number;
  }

  /** Per-device logging; lines carry the device, the session, the script position and the event. */
  interface Logger {
    debug(msg: string, fields?: Record<string, unknown>): void;
    info(msg: string, fields?: Record<string, unknown>): void;
    warn(msg: string, fields?: Record<string, unknown>): void;
    error(msg: string, fields?: Record<string, unknown>): void;
  }

  /** One parameter a failed SetParameterValues names. */
  interface ParameterFault {
    name: string;
    code: number;
    message: string;
  }

  /** A fault the CPE answered a call with. Catch it with try/catch; `instanceof CwmpFault` tells it from other errors. */
  class CwmpFault extends Error {
    constructor(code: number, message: string, parameters?: ParameterFault[], method?: string);
    readonly name: "CwmpFault";
    /** The CWMP fault code, 9000-9899. */
    readonly code: number;
    /** SetParameterValues: the parameters at fault. */
    readonly parameters: ParameterFault[];
    /** The method that faulted, e.g. "SetParameterValues". */
    readonly method?: string;
  }

  interface NameInfo {
    name: string;
    writable: boolean;
  }

  interface Attributes {
    /** 0 off, 1 passive, 2 active. */
    notification: number;
    accessList: string[];
  }

  interface AttributeChange {
    notification?: 0 | 1 | 2 | 3 | 4 | 5 | 6;
    accessList?: string[];
  }

  /** What download() takes besides where the file is. */
  interface DownloadOptions {
    username?: string;
    password?: string;
    /** Bytes; with `file`, the stored file's size by default. */
    fileSize?: number;
    /** With `file`, the stored file's name by default. */
    targetFileName?: string;
    delaySeconds?: number;
    successURL?: string;
    failureURL?: string;
    /** Defaults to a unique key, returned in the result. */
    commandKey?: string;
  }

  /** A Download of a file from any server. */
  interface DownloadFromURL extends DownloadOptions {
    /** "1 Firmware Upgrade Image", "3 Vendor Configuration File", or a vendor type "X <OUI> <name>". */
    fileType: string;
    url: string;
    file?: undefined;
  }

  /**
   * A Download of a file in the ACS's file store, by ID or name (the newest
   * file of the name stored through the API). The device gets a signed URL
   * that expires (files.url_ttl); the server needs files.base_url. An
   * unknown file throws.
   */
  interface DownloadStoredFile extends DownloadOptions {
    file: string;
    /** Defaults to the stored file's type. */
    fileType?: string;
    url?: undefined;
  }

  type DownloadRequest = DownloadFromURL | DownloadStoredFile;

  interface UploadRequest {
    /** "1 Vendor Configuration File", "2 Vendor Log File", … */
    fileType: string;
    /**
     * Where the device uploads to. Without it, into the ACS's file store
     * (the server needs files.base_url), kept with the device ID and the
     * command key: `provisor file list --device ID`.
     */
    url?: string;
    username?: string;
    password?: string;
    delaySeconds?: number;
    commandKey?: string;
  }

  /** A file of the ACS's file store. */
  interface StoredFile {
    id: string;
    name: string;
    fileType: string;
    /** Bytes. */
    size: number;
    version?: string;
  }

  interface TransferResult {
    /** 0: done already; 1: a TransferComplete with commandKey follows in a later session. */
    status: number;
    commandKey: string;
    /** ISO 8601, when status is 0. */
    startTime?: string;
    completeTime?: string;
    /** download({file}): the stored file handed to the device. */
    file?: StoredFile;
  }

  /** The device of the session. */
  interface Device {
    /** OUI-ProductClass-SerialNumber */
    readonly id: string;
    readonly oui: string;
    readonly productClass: string;
    readonly serialNumber: string;
    readonly manufacturer: string;
    /** The data model root: "Device." (TR-181) or "InternetGatewayDevice." (TR-098). */
    readonly root: string;
    /** The ACS had never seen the device before this session. */
    readonly isNew: boolean;
    /** The CWMP version of the session, e.g. "1.2". */
    readonly cwmpVersion: string;
    /** The device's tags, sorted. */
    readonly tags: string[];

    /** What the ACS knows of a parameter (this session's findings, else the store); undefined if unknown. No device call. */
    get(path: string): Value | undefined;
    /** Reads a parameter or a subtree ("Device.WiFi.") from the device into what the ACS knows; returns how many values were read. */
    refresh(path: string): number;
    /** GetParameterValues: path (a name or a partial path ending in ".") -> value. */
    getValues(paths: string | string[]): Record<string, Value>;
    /** GetParameterNames. */
    getNames(path: string, nextLevel?: boolean): NameInfo[];
    /** One SetParameterValues, typed from the data model, else from what the device reported, else from the JavaScript type. Returns the status (0 applied, 1 applied after a reboot). */
    set(values: Record<string, Value | Date | TypedValue>, options?: { parameterKey?: string }): number;
    /** AddObject on a table ("Device.NAT.PortMapping."); returns the new instance number. */
    addObject(path: string, options?: { parameterKey?: string }): number;
    /** DeleteObject of an instance ("Device.NAT.PortMapping.3."); returns the status. */
    deleteObject(path: string, options?: { parameterKey?: string }): number;
    getAttributes(paths: string | string[]): Record<string, Attributes>;
    setAttributes(attributes: Record<string, AttributeChange>): void;
    download(request: DownloadRequest): TransferResult;
    upload(request: UploadRequest): TransferResult;
    /** Returns the command key the device reports with "M Reboot". */
    reboot(commandKey?: string): string;
    factoryReset(): void;
    /** Asks for a session in `seconds`; returns the command key of its "M ScheduleInform". */
    scheduleInform(seconds: number, commandKey?: string): string;
    tag(name: string): void;
    untag(name: string): void;
    hasTag(name: string): boolean;
  }

  /** Small per-device data that persists across sessions; values are stored as JSON. */
  interface Store {
    get(key: string): any;
    set(key: string, value: unknown): void;
    delete(key: string): void;
  }

  /** What a handler works on. Date is fixed to the session's start and Math.random is seeded per device. */
  interface Session {
    /** The session's ID, also on every log line. */
    readonly id: string;
    /** The event the running handler was registered for. */
    readonly event: string;
    readonly device: Device;
    readonly store: Store;
    readonly log: Logger;
    /** The Inform's event codes, canonical spelling. */
    readonly events: string[];
    /** The Inform's parameters, typed. */
    readonly inform: Record<string, Value>;
    /** The CommandKey of an event of the Inform ("M Reboot", "M Download"), undefined if absent. */
    commandKey(event: string): string | undefined;
  }

  /** The argument of "transferComplete" handlers. */
  interface TransferComplete {
    /** An AutonomousTransferComplete: a transfer the ACS did not ask for. */
    autonomous: boolean;
    /** The key given to download()/upload(); empty when autonomous. */
    commandKey: string;
    /** 0 on success. */
    faultCode: number;
    faultString: string;
    startTime?: string;
    completeTime?: string;
    /** Autonomous transfers only. */
    announceURL?: string;
    transferURL?: string;
    isDownload?: boolean;
    fileType?: string;
    fileSize?: number;
    targetFileName?: string;
  }

  /** The argument of "requestDownload" handlers. */
  interface RequestDownload {
    fileType: string;
    args: Record<string, string>;
  }

  /** The argument of "session.end" handlers. */
  interface SessionEnd {
    /** "ok", "cpe-timeout", … */
    outcome: string;
    errors: string[];
  }

  /** Runs handler in every session whose Inform carries the event. */
  function on(event: StandardEvent | (string & {}), handler: (s: Session) => void, options?: Options): void;
  /** Runs handler in every session. */
  function on(event: "inform", handler: (s: Session) => void, options?: Options): void;
  /** Runs handler once per TransferComplete or AutonomousTransferComplete the CPE sends, before the event handlers. */
  function on(event: "transferComplete", handler: (s: Session, transfer: TransferComplete) => void, options?: Options): void;
  /** Runs handler once per RequestDownload the CPE sends. */
  function on(event: "requestDownload", handler: (s: Session, request: RequestDownload) => void, options?: Options): void;
  /** Runs handler once per fault the CPE answers a call with, after the handler that made the call. */
  function on(event: "fault", handler: (s: Session, fault: CwmpFault) => void, options?: Options): void;
  /** Runs handler when the session is over; the device can no longer be called. */
  function on(event: "session.end", handler: (s: Session, end: SessionEnd) => void, options?: Options): void;

  /** Firmware version comparison: numbers numerically, "7.1rc1" < "7.1" < "7.1.1", a leading "v" ignored. */
  const version: {
    compare(a: string, b: string): -1 | 0 | 1;
    gt(a: string, b: string): boolean;
    gte(a: string, b: string): boolean;
    lt(a: string, b: string): boolean;
    lte(a: string, b: string): boolean;
    eq(a: string, b: string): boolean;
  };

  /** Logging outside handlers (while a script loads) and inside them. */
  const log: Logger;
}

declare module "provisor/log" {
  const log: import("provisor").Logger;
  export = log;
}

/** Functions a plugin exports to scripts; arguments and results travel as JSON. */
declare module "provisor/x/*" {
  const functions: Record<string, (...args: any[]) => any>;
  export = functions;
}

/** Goes to the server log at the matching level. */
declare var console: {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
};

declare var module: { exports: any; readonly id: string; readonly filename: string; readonly loaded: boolean };
declare var exports: any;
/** The script's path relative to the scripts directory. */
declare var __filename: string;
declare var __dirname: string;
declare function require(id: string): any;
