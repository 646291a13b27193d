// Errors the HTTP API reports, in OpenAI's shape:
//   {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
// Handlers throw ApiError for anything the client did wrong; the server's one error wrapper
// turns it (and mmada::Error from request-dependent checks, and anything else) into a reply.
#pragma once
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace mmada::serve {

struct ApiError : std::runtime_error {
  int status;
  std::string type;   // invalid_request_error, authentication_error, server_error, ...
  std::string code;   // machine-readable detail, may be empty
  std::string param;  // the offending request field, may be empty
  ApiError(int status, std::string type, std::string message, std::string param = "",
           std::string code = "")
      : std::runtime_error(std::move(message)), status(status), type(std::move(type)),
        code(std::move(code)), param(std::move(param)) {}
};

// 400 invalid_request_error naming the field.
[[noreturn]] inline void bad_request(const std::string& param, const std::string& message) {
  throw ApiError(400, "invalid_request_error", message, param);
}

nlohmann::json error_body(const std::string& message, const std::string& type,
                          const std::string& param = "", const std::string& code = "");
inline nlohmann::json error_body(const ApiError& e) {
  return error_body(e.what(), e.type, e.param, e.code);
}

}  // namespace mmada::serve
