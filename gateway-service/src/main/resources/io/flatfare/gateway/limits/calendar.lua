-- Calendar months in UTC from Unix seconds. Redis scripts have no os.date, so the date arithmetic is done here, after
-- Howard Hinnant's civil_from_days / days_from_civil (proleptic Gregorian calendar, exact for any date).
local function civil_month(unix_seconds)
  local z = math.floor(unix_seconds / 86400) + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local month = mp < 10 and mp + 3 or mp - 9
  local year = yoe + era * 400 + (month <= 2 and 1 or 0)
  return year, month
end

local function days_from_civil(year, month, day)
  local y = year - (month <= 2 and 1 or 0)
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (month > 2 and month - 3 or month + 9) + 2) / 5) + day - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- The month holding unix_seconds as one number (year * 12 + month - 1), and the Unix second the next month starts.
local function calendar_month(unix_seconds)
  local year, month = civil_month(unix_seconds)
  local next_year, next_month = year, month + 1
  if next_month > 12 then
    next_year, next_month = year + 1, 1
  end
  return year * 12 + month - 1, days_from_civil(next_year, next_month, 1) * 86400
end
