/** A small RFC 4180 CSV reader, for the subject map a client uploads (POST /subjects). */

export function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"'
        i++
      } else if (c === '"') quoted = false
      else field += c
    } else if (c === '"' && field === '') quoted = true
    else if (c === ',') {
      row.push(field)
      field = ''
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++
      row.push(field)
      field = ''
      if (row.some((f) => f !== '')) rows.push(row)
      row = []
    } else field += c
  }
  row.push(field)
  if (row.some((f) => f !== '')) rows.push(row)
  return rows
}

/**
 * The subject map: PatientID -> subject code, from a CSV with a `code` column and a `PatientID`
 * column (the vendor's map keys; other columns are ignored). Empty when the CSV has neither.
 */
export function subjectCodes(csv: string | null | undefined): Map<string, string> {
  const map = new Map<string, string>()
  if (!csv) return map
  const [header, ...rows] = parseCsv(csv)
  if (!header) return map
  const code = header.findIndex((h) => h.trim().toLowerCase() === 'code')
  const key = header.findIndex((h) => h.trim() === 'PatientID')
  if (code === -1 || key === -1) return map
  for (const r of rows) if (r[key] && r[code]) map.set(r[key], r[code])
  return map
}
