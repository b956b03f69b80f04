// Dates, times and phone numbers as people read them. Appointment times are always shown in the
// practice's zone (given by the API), never the browser's, and the zone is named next to the time.

const LOCALES = { en: "en-US", es: "es-US" };

export function localeFor(lang) {
  return LOCALES[lang] || LOCALES.en;
}

function fmt(lang, options) {
  try {
    return new Intl.DateTimeFormat(localeFor(lang), options);
  } catch {
    // An unknown zone: fall back to UTC so a time is still shown (its zone is named by the caller).
    const { timeZone, ...rest } = options;
    return new Intl.DateTimeFormat(localeFor(lang), { ...rest, timeZone: "UTC" });
  }
}

/** Parts of an instant in a zone: {monthShort, day, weekday, dateLong, time, zoneShort}. */
export function partsInZone(isoInstant, zone, lang) {
  const d = new Date(isoInstant);
  if (Number.isNaN(d.getTime())) return null;
  const tz = { timeZone: zone || "UTC" };
  const zonePart = fmt(lang, { ...tz, hour: "numeric", timeZoneName: "short" })
    .formatToParts(d)
    .find((p) => p.type === "timeZoneName");
  return {
    monthShort: fmt(lang, { ...tz, month: "short" }).format(d).replace(".", ""),
    day: fmt(lang, { ...tz, day: "numeric" }).format(d),
    weekday: fmt(lang, { ...tz, weekday: "long" }).format(d),
    dateLong: fmt(lang, { ...tz, weekday: "long", month: "long", day: "numeric", year: "numeric" }).format(d),
    time: fmt(lang, { ...tz, hour: "numeric", minute: "2-digit" }).format(d).replace(/[\u202f\u00a0]/g, " "),
    zoneShort: zonePart ? zonePart.value : zone || "UTC",
  };
}

/** "Eastern Time" style name of a zone, for a line such as "Times are in Eastern Time". */
export function zoneName(zone, lang) {
  try {
    const part = new Intl.DateTimeFormat(localeFor(lang), { timeZone: zone, timeZoneName: "longGeneric" })
      .formatToParts(new Date())
      .find((p) => p.type === "timeZoneName");
    return part ? part.value : zone;
  } catch {
    return zone;
  }
}

/** A calendar day "YYYY-MM-DD" as a long label, without any zone shifting. */
export function dayLabel(isoDay, lang, options = { weekday: "long", month: "long", day: "numeric", year: "numeric" }) {
  const [y, m, d] = isoDay.split("-").map(Number);
  return new Intl.DateTimeFormat(localeFor(lang), { ...options, timeZone: "UTC" }).format(new Date(Date.UTC(y, m - 1, d)));
}

/** "YYYY-MM-DD" plus n days (calendar arithmetic, DST-safe). */
export function addDays(isoDay, n) {
  const [y, m, d] = isoDay.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** Today's date "YYYY-MM-DD" in a zone. */
export function todayIn(zone, now = new Date()) {
  try {
    return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(now);
  } catch {
    return now.toISOString().slice(0, 10);
  }
}

export function isIsoDay(value) {
  return typeof value === "string" && /^\d{4}-\d{2}-\d{2}$/.test(value);
}

/** A phone number for display: North American E.164 as (555) 555-0100, anything else unchanged. */
export function displayPhone(phone) {
  const s = String(phone || "").trim();
  const m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(s.replace(/[\s().-]/g, ""));
  return m ? `(${m[1]}) ${m[2]}-${m[3]}` : s;
}

/** A tel: href (digits and a leading +). */
export function telHref(phone) {
  return `tel:${String(phone || "").replace(/[^\d+]/g, "")}`;
}

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/** A clock time "HH:MM" as people read it ("8:00 AM", "13:00" -> "1:00 PM"). */
export function clockLabel(hhmm, lang) {
  const [hh, mm] = String(hhmm).split(":").map(Number);
  return new Intl.DateTimeFormat(localeFor(lang), { hour: "numeric", minute: "2-digit", timeZone: "UTC" })
    .format(new Date(Date.UTC(2024, 0, 1, hh, mm)))
    .replace(/[\u202f\u00a0]/g, " ");
}

/**
 * Opening hours {mon: [["08:00","12:00"], ...], ...} as rows [{days: "Mon – Thu", times: ["8:00 AM – 12:00 PM", ...]}],
 * consecutive days with the same hours merged; closed days left out.
 */
export function hoursRows(hours, lang) {
  if (!hours || typeof hours !== "object") return [];
  const dayName = (i) =>
    new Intl.DateTimeFormat(localeFor(lang), { weekday: "short", timeZone: "UTC" }).format(new Date(Date.UTC(2024, 0, 1 + i)));
  const key = (day) => JSON.stringify(hours[day] || []);
  const rows = [];
  let i = 0;
  while (i < WEEKDAYS.length) {
    const spans = hours[WEEKDAYS[i]];
    let j = i;
    while (j + 1 < WEEKDAYS.length && key(WEEKDAYS[j + 1]) === key(WEEKDAYS[i])) j += 1;
    if (Array.isArray(spans) && spans.length) {
      rows.push({
        days: i === j ? dayName(i) : `${dayName(i)} – ${dayName(j)}`,
        times: spans.map(([a, b]) => `${clockLabel(a, lang)} – ${clockLabel(b, lang)}`),
      });
    }
    i = j + 1;
  }
  return rows;
}
