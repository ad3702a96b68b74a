// JsonToYaml (output.h): YAML rendering, following go-yaml v2 (what sigs.k8s.io/yaml uses)
// closely enough that the output reads the same; long lines are not folded.
#include <re2/re2.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tetherctl/output.h"

namespace tether::ctl {
namespace {

using nlohmann::json;

bool IsLetter(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;  // approximate Unicode
}
bool IsDigit(char32_t c) { return c >= '0' && c <= '9'; }

std::u32string ToRunes(absl::string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    char32_t r = c;
    size_t n = 1;
    if (c >= 0xF0) {
      r = c & 0x07;
      n = 4;
    } else if (c >= 0xE0) {
      r = c & 0x0F;
      n = 3;
    } else if (c >= 0xC0) {
      r = c & 0x1F;
      n = 2;
    }
    if (i + n > s.size()) n = s.size() - i;
    for (size_t k = 1; k < n; ++k) r = (r << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(r);
    i += n;
  }
  return out;
}

// go-yaml's key order: runs of digits compare as numbers, non-letters sort before letters.
bool YamlKeyLess(const std::string& a_str, const std::string& b_str) {
  const std::u32string a = ToRunes(a_str), b = ToRunes(b_str);
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i] == b[i]) continue;
    const bool al = IsLetter(a[i]), bl = IsLetter(b[i]);
    if (al && bl) return a[i] < b[i];
    if (al || bl) return bl;
    int64_t an = 0, bn = 0;
    if (a[i] == '0' || b[i] == '0') {
      for (size_t j = i; j-- > 0 && IsDigit(a[j]);) {
        if (a[j] != '0') {
          an = 1;
          bn = 1;
          break;
        }
      }
    }
    size_t ai = i, bi = i;
    for (; ai < a.size() && IsDigit(a[ai]); ++ai) an = an * 10 + (a[ai] - '0');
    for (; bi < b.size() && IsDigit(b[bi]); ++bi) bn = bn * 10 + (b[bi] - '0');
    if (an != bn) return an < bn;
    if (ai != bi) return ai < bi;
    return a[i] < b[i];
  }
  return a.size() < b.size();
}

// True when a plain scalar `s` would be read back as something other than a string (YAML 1.1
// as go-yaml resolves it: booleans, null, numbers, timestamps, base-60 numbers).
bool ResolvesToNonString(absl::string_view s) {
  static const std::set<absl::string_view> kWords = {
      "y",    "Y",    "yes",  "Yes",   "YES",   "true",  "True",  "TRUE",  "on",    "On",
      "ON",   "n",    "N",    "no",    "No",    "NO",    "false", "False", "FALSE", "off",
      "Off",  "OFF",  "",     "~",     "null",  "Null",  "NULL",  ".nan",  ".NaN",  ".NAN",
      ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<"};
  if (kWords.contains(s)) return true;
  const char c = s[0];
  if (!(c == '+' || c == '-' || c == '.' || IsDigit(c))) return false;
  // Timestamps: 2001-12-14, 2001-12-14t21:59:43.10-05:00, ...
  static const RE2 kTimestamp(
      R"(\d{4}-\d{1,2}-\d{1,2}(?:(?:[Tt]|[ \t]+)\d{1,2}:\d{2}:\d{2}(?:\.\d*)?(?:[ \t]*(?:Z|[-+]\d{1,2}(?::\d{2})?))?)?)");
  const re2::StringPiece piece(s.data(), s.size());
  if (RE2::FullMatch(piece, kTimestamp)) return true;
  static const RE2 kBase60(R"([-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?)");
  if (RE2::FullMatch(piece, kBase60)) return true;
  std::string plain(s);
  plain.erase(std::remove(plain.begin(), plain.end(), '_'), plain.end());
  static const RE2 kInt(R"([-+]?(?:0b[01]+|0o?[0-7]*|0x[0-9a-fA-F]+|[1-9][0-9]*|0))");
  static const RE2 kFloat(R"([-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)");
  return RE2::FullMatch(plain, kInt) || RE2::FullMatch(plain, kFloat);
}

bool IsPrintable(char32_t r) {
  return r == 0x09 || r == 0x0A || (r >= 0x20 && r <= 0x7E) || r == 0x85 ||
         (r >= 0xA0 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD && r != 0xFEFF) ||
         (r >= 0x10000 && r <= 0x10FFFF);
}

enum class ScalarStyle { kPlain, kSingle, kDouble, kLiteral };

ScalarStyle ChooseStyle(absl::string_view s, bool is_key) {
  if (ResolvesToNonString(s)) return ScalarStyle::kDouble;
  const bool multiline = s.find('\n') != absl::string_view::npos;
  const std::u32string r = ToRunes(s);
  bool block_indicators = false, special = false, leading_space = false, trailing_space = false;
  bool leading_break = false, trailing_break = false, break_space = false, space_break = false;
  if (r.size() >= 3 && ((r[0] == '-' && r[1] == '-' && r[2] == '-') ||
                        (r[0] == '.' && r[1] == '.' && r[2] == '.'))) {
    block_indicators = true;
  }
  bool preceded_by_ws = true, prev_space = false, prev_break = false;
  for (size_t i = 0; i < r.size(); ++i) {
    const bool followed_by_ws = i + 1 >= r.size() || r[i + 1] == ' ' || r[i + 1] == '\t' ||
                                r[i + 1] == '\n' || r[i + 1] == '\r';
    const char32_t c = r[i];
    if (i == 0) {
      switch (c) {
        case '#':
        case ',':
        case '[':
        case ']':
        case '{':
        case '}':
        case '&':
        case '*':
        case '!':
        case '|':
        case '>':
        case '\'':
        case '"':
        case '%':
        case '@':
        case '`':
          block_indicators = true;
          break;
        case '?':
        case ':':
        case '-':
          if (followed_by_ws) block_indicators = true;
          break;
        default:
          break;
      }
    } else if ((c == ':' && followed_by_ws) || (c == '#' && preceded_by_ws)) {
      block_indicators = true;
    }
    if (!IsPrintable(c)) special = true;
    if (c == ' ') {
      if (i == 0) leading_space = true;
      if (i + 1 == r.size()) trailing_space = true;
      if (prev_break) break_space = true;
      prev_space = true;
      prev_break = false;
    } else if (c == '\n' || c == '\r' || c == 0x85 || c == 0x2028 || c == 0x2029) {
      if (i == 0) leading_break = true;
      if (i + 1 == r.size()) trailing_break = true;
      if (prev_space) space_break = true;
      prev_space = false;
      prev_break = true;
    } else {
      prev_space = false;
      prev_break = false;
    }
    preceded_by_ws = c == ' ' || c == '\t' || c == '\n' || c == '\r';
  }
  bool plain_allowed = !(leading_space || leading_break || trailing_space || trailing_break ||
                         break_space || space_break || special || multiline || block_indicators);
  bool single_allowed = !(break_space || space_break || special);
  bool block_allowed = !(trailing_space || space_break || special);
  if (multiline) {
    return (block_allowed && !is_key) ? ScalarStyle::kLiteral : ScalarStyle::kDouble;
  }
  if (plain_allowed) return ScalarStyle::kPlain;
  return single_allowed ? ScalarStyle::kSingle : ScalarStyle::kDouble;
}

std::string DoubleQuote(absl::string_view s) {
  std::string out = "\"";
  const std::u32string runes = ToRunes(s);
  size_t byte = 0;
  for (char32_t r : runes) {
    // Re-derive the rune's bytes from the input to copy printable runes verbatim.
    size_t n = 1;
    const unsigned char lead = s[byte];
    if (lead >= 0xF0)
      n = 4;
    else if (lead >= 0xE0)
      n = 3;
    else if (lead >= 0xC0)
      n = 2;
    n = std::min(n, s.size() - byte);
    switch (r) {
      case 0:
        out += "\\0";
        break;
      case 0x07:
        out += "\\a";
        break;
      case 0x08:
        out += "\\b";
        break;
      case 0x09:
        out += "\\t";
        break;
      case 0x0A:
        out += "\\n";
        break;
      case 0x0B:
        out += "\\v";
        break;
      case 0x0C:
        out += "\\f";
        break;
      case 0x0D:
        out += "\\r";
        break;
      case 0x1B:
        out += "\\e";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case 0x85:
        out += "\\N";
        break;
      case 0xA0:
        out += "\\_";
        break;
      case 0x2028:
        out += "\\L";
        break;
      case 0x2029:
        out += "\\P";
        break;
      default:
        if (IsPrintable(r) && r != 0xFEFF) {
          out.append(s.data() + byte, n);
        } else if (r <= 0xFF) {
          out += absl::StrFormat("\\x%02X", static_cast<unsigned>(r));
        } else if (r <= 0xFFFF) {
          out += absl::StrFormat("\\u%04X", static_cast<unsigned>(r));
        } else {
          out += absl::StrFormat("\\U%08X", static_cast<unsigned>(r));
        }
    }
    byte += n;
  }
  out += '"';
  return out;
}

std::string SingleQuote(absl::string_view s) {
  std::string out = "'";
  for (char c : s) {
    out += c;
    if (c == '\'') out += '\'';
  }
  out += '\'';
  return out;
}

// A literal block scalar (`|`, `|-` or `|+`) whose lines are indented by `indent` spaces.
std::string LiteralBlock(absl::string_view s, int indent) {
  std::string header = "|";
  if (!s.empty() && (s.front() == ' ' || s.front() == '\n')) header += "2";
  size_t trailing = 0;
  while (trailing < s.size() && s[s.size() - 1 - trailing] == '\n') ++trailing;
  if (trailing == 0) header += "-";
  if (trailing > 1) header += "+";
  std::string out = header;
  absl::string_view body = s.substr(0, s.size() - (trailing > 0 ? 1 : 0));
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    out += '\n';
    if (!line.empty()) {
      out.append(static_cast<size_t>(indent), ' ');
      out.append(line.data(), line.size());
    }
  }
  return out;
}

std::string Scalar(absl::string_view s, bool is_key, int indent) {
  switch (ChooseStyle(s, is_key)) {
    case ScalarStyle::kPlain:
      return std::string(s);
    case ScalarStyle::kSingle:
      return SingleQuote(s);
    case ScalarStyle::kLiteral:
      return LiteralBlock(s, indent);
    case ScalarStyle::kDouble:
      break;
  }
  return DoubleQuote(s);
}

// Go's strconv.FormatFloat(f, 'g', -1, 64).
std::string GoFloat(double f) {
  if (std::isnan(f)) return ".nan";
  if (std::isinf(f)) return f > 0 ? "+.inf" : "-.inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific);
  if (ec != std::errc()) return absl::StrCat(f);
  std::string sci(buf, end);  // e.g. "-1.2345e+06"
  const size_t e = sci.find('e');
  const int exp = std::atoi(sci.c_str() + e + 1);
  std::string mantissa = sci.substr(0, e);
  const bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  std::string out = negative ? "-" : "";
  if (exp < -4 || exp >= 6) {  // Go uses precision 6 for this decision in shortest mode
    out += digits.substr(0, 1);
    if (digits.size() > 1) absl::StrAppend(&out, ".", digits.substr(1));
    absl::StrAppend(&out, "e", exp < 0 ? "-" : "+", absl::StrFormat("%02d", std::abs(exp)));
    return out;
  }
  if (exp < 0) {
    absl::StrAppend(&out, "0.", std::string(static_cast<size_t>(-exp - 1), '0'), digits);
  } else if (static_cast<size_t>(exp) + 1 >= digits.size()) {
    absl::StrAppend(&out, digits, std::string(static_cast<size_t>(exp) + 1 - digits.size(), '0'));
  } else {
    absl::StrAppend(&out, digits.substr(0, static_cast<size_t>(exp) + 1), ".",
                    digits.substr(static_cast<size_t>(exp) + 1));
  }
  return out;
}

std::string InlineValue(const json& v, int indent) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
      return std::to_string(v.get<int64_t>());
    case json::value_t::number_unsigned:
      return std::to_string(v.get<uint64_t>());
    case json::value_t::number_float:
      return GoFloat(v.get<double>());
    case json::value_t::string:
      return Scalar(v.get_ref<const std::string&>(), /*is_key=*/false, indent);
    case json::value_t::object:
      return "{}";
    case json::value_t::array:
      return "[]";
    default:
      return "null";
  }
}

void EmitYaml(const json& v, int indent, std::string* out);

// Emits the entries of a non-empty object; the first line continues the current line when
// `inline_first` (after "- "), otherwise every line starts with `indent` spaces.
void EmitObject(const json& obj, int indent, bool inline_first, std::string* out) {
  std::vector<std::string> keys;
  for (const auto& [k, unused] : obj.items()) keys.push_back(k);
  std::stable_sort(keys.begin(), keys.end(), YamlKeyLess);
  bool first = true;
  for (const std::string& key : keys) {
    if (!(first && inline_first)) out->append(static_cast<size_t>(indent), ' ');
    first = false;
    const json& value = obj.at(key);
    absl::StrAppend(out, Scalar(key, /*is_key=*/true, indent), ":");
    if (value.is_object() && !value.empty()) {
      out->push_back('\n');
      EmitObject(value, indent + 2, false, out);
    } else if (value.is_array() && !value.empty()) {
      // go-yaml v2 does not indent a sequence under its key.
      out->push_back('\n');
      EmitYaml(value, indent, out);
    } else {
      absl::StrAppend(out, " ", InlineValue(value, indent + 2), "\n");
    }
  }
}

void EmitYaml(const json& v, int indent, std::string* out) {
  if (v.is_object() && !v.empty()) {
    EmitObject(v, indent, false, out);
    return;
  }
  if (v.is_array() && !v.empty()) {
    for (const json& item : v) {
      out->append(static_cast<size_t>(indent), ' ');
      out->append("- ");
      if (item.is_object() && !item.empty()) {
        EmitObject(item, indent + 2, true, out);
      } else if (item.is_array() && !item.empty()) {
        // A nested sequence starts on the same line: "- - a".
        std::string nested;
        EmitYaml(item, indent + 2, &nested);
        out->append(nested.substr(static_cast<size_t>(indent + 2)));
      } else {
        absl::StrAppend(out, InlineValue(item, indent + 2), "\n");
      }
    }
    return;
  }
  absl::StrAppend(out, InlineValue(v, indent), "\n");
}

}  // namespace

std::string JsonToYaml(const nlohmann::json& value) {
  std::string out;
  EmitYaml(value, 0, &out);
  return out;
}

}  // namespace tether::ctl
