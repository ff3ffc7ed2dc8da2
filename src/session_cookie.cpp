// express-session's signed cookie values, checked exactly like
// cookie-signature's unsign(): the sid is everything between "s:" and the
// last '.', the rest must equal base64(HMAC-SHA256(secret, sid)) with the
// '=' padding removed.
#include "session_cookie.h"

#include <array>
#include <cstdint>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace ps {
namespace {

constexpr std::size_t kMaxSessionId = 256;
constexpr std::size_t kSha256Size = 32;
constexpr std::size_t kSignatureSize = 43;  // base64 of 32 bytes, no padding

// Standard alphabet (cookie-signature uses Buffer#toString('base64')), the
// trailing '=' padding left out.
void base64_unpadded(const unsigned char* in, std::size_t n, std::string& out) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const std::uint32_t v = (std::uint32_t(in[i]) << 16) | (std::uint32_t(in[i + 1]) << 8) | in[i + 2];
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (n - i == 1) {
    const std::uint32_t v = std::uint32_t(in[i]) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
  } else if (n - i == 2) {
    const std::uint32_t v = (std::uint32_t(in[i]) << 16) | (std::uint32_t(in[i + 1]) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
  }
}

// The unpadded base64 signature of sid under secret; empty if OpenSSL fails.
std::string signature(std::string_view sid, std::string_view secret) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  // HMAC() reads a NULL key as "no key given"; an empty key needs a pointer.
  static const unsigned char kEmpty = 0;
  const void* key = secret.empty() ? static_cast<const void*>(&kEmpty) : secret.data();
  static const unsigned char kNoData = 0;
  const unsigned char* data = sid.empty() ? &kNoData : reinterpret_cast<const unsigned char*>(sid.data());
  if (HMAC(EVP_sha256(), key, static_cast<int>(secret.size()), data, sid.size(), mac.data(), &mac_len) ==
          nullptr ||
      mac_len != kSha256Size) {
    return {};
  }
  std::string out;
  out.reserve(kSignatureSize);
  base64_unpadded(mac.data(), mac_len, out);
  return out;
}

bool valid_sid(std::string_view sid) { return !sid.empty() && sid.size() <= kMaxSessionId; }

}  // namespace

std::string sign_session_id(std::string_view sid, std::string_view secret) {
  std::string out;
  out.reserve(sid.size() + 1 + kSignatureSize);
  out.append(sid);
  out.push_back('.');
  out.append(signature(sid, secret));
  return out;
}

std::optional<std::string_view> session_id_from_cookie(std::string_view value,
                                                       const std::string_view* secrets,
                                                       std::size_t secret_count) {
  if (secret_count == 0 || secrets == nullptr) {
    // No secret to check with: an express-session value "s:<sid>.<sig>"
    // still names its sid (the signature cannot be verified; knowing a
    // sid is what grants access either way), any other value is the sid.
    if (value.size() > 2 && value.substr(0, 2) == "s:") {
      const std::size_t dot = value.rfind('.');
      if (dot != std::string_view::npos && dot > 2 && value.size() - dot - 1 == kSignatureSize) {
        value = value.substr(2, dot - 2);
      }
    }
    if (!valid_sid(value)) return std::nullopt;
    return value;
  }

  // express-session ignores values without the "s:" prefix when it has a secret.
  if (value.size() < 2 || value.substr(0, 2) != "s:") return std::nullopt;
  const std::string_view signed_part = value.substr(2);
  const std::size_t dot = signed_part.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string_view sid = signed_part.substr(0, dot);
  const std::string_view sig = signed_part.substr(dot + 1);
  if (!valid_sid(sid) || sig.size() != kSignatureSize) return std::nullopt;

  // Every secret is tried, a match does not end the loop: how long this
  // takes says nothing about which secret (if any) matched. An empty secret
  // never validates anything (a configuration slip must not open the door).
  int matched = 0;
  for (std::size_t i = 0; i < secret_count; ++i) {
    const std::string expected = signature(sid, secrets[i]);
    const int ok =
        expected.size() == sig.size() && CRYPTO_memcmp(expected.data(), sig.data(), sig.size()) == 0;
    matched |= ok & int(!secrets[i].empty());
  }
  if (!matched) return std::nullopt;
  return sid;
}

}  // namespace ps
