// faceprint HTTP API from C++17 with libcurl (Debian: libcurl4-openssl-dev).
//
// Verifies two photos, identifies every face of a group photo, and reads each named person by
// their id (people are addressed by id: names are data and never part of a URL):
//
//   g++ -std=c++17 -O2 -o faceprint_sample faceprint_sample.cpp -lcurl
//   FACEPRINT_API_KEY=fp_... ./faceprint_sample http://127.0.0.1:8000 a.jpg b.jpg group.jpg
//
// The key is sent as "Authorization: Bearer <key>" (leave FACEPRINT_API_KEY unset for a keyless
// loopback server). Images are uploaded with curl's MIME API; the few JSON fields used here are
// read with std::regex to stay dependency-free (use a JSON library in real code). Errors come
// back as {"error": {"code", "message"}, "request_id"}.

#include <curl/curl.h>

#include <cstdlib>
#include <iostream>
#include <regex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

size_t collect(char* data, size_t size, size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
}

std::string first(const std::string& json, const std::string& pattern) {
    std::smatch m;
    return std::regex_search(json, m, std::regex(pattern)) ? m[1].str() : std::string();
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

// POST files (field, path) and form fields (name, value) to route (GET when both are empty);
// returns the JSON text.
std::string post(const std::string& base, const std::string& route, const Pairs& files, const Pairs& fields) {
    const bool get = files.empty() && fields.empty();
    CURL* curl = curl_easy_init();
    if (!curl) throw std::runtime_error("curl_easy_init failed");
    curl_mime* form = curl_mime_init(curl);
    for (const auto& [name, value] : fields) {
        curl_mimepart* part = curl_mime_addpart(form);
        curl_mime_name(part, name.c_str());
        curl_mime_data(part, value.c_str(), CURL_ZERO_TERMINATED);
    }
    for (const auto& [name, path] : files) {
        curl_mimepart* part = curl_mime_addpart(form);
        curl_mime_name(part, name.c_str());
        curl_mime_filedata(part, path.c_str());
    }
    curl_slist* headers = nullptr;
    if (const char* key = std::getenv("FACEPRINT_API_KEY"); key && *key) {
        headers = curl_slist_append(headers, (std::string("Authorization: Bearer ") + key).c_str());
    }
    std::string body;
    std::string url = base + route;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    if (!get) curl_easy_setopt(curl, CURLOPT_MIMEPOST, form);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_mime_free(form);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) throw std::runtime_error(std::string("request failed: ") + curl_easy_strerror(rc));
    if (status >= 400) {
        throw std::runtime_error("HTTP " + std::to_string(status) + ": " + first(body, R"re("message":"((?:[^"\\]|\\.)*)")re"));
    }
    return body;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::cerr << "usage: faceprint_sample BASE_URL PHOTO_A PHOTO_B GROUP_PHOTO\n";
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    try {
        std::string base = argv[1];
        std::string verified = post(base, "/v1/verify", {{"image_a", argv[2]}, {"image_b", argv[3]}}, {});
        std::cout << "verify: similarity=" << first(verified, R"re("similarity":(-?[0-9.eE+-]+))re")
                  << " same=" << first(verified, R"re("same":(true|false))re") << "\n";

        std::string found = post(base, "/v1/identify", {{"image", argv[4]}}, {{"top_k", "3"}});
        std::regex face(R"re("box":\[([^\]]*)\],"label":"((?:[^"\\]|\\.)*)","similarity":(-?[0-9.eE+-]+|null),"person_id":([0-9]+|null))re");
        std::vector<std::string> ids;
        for (auto it = std::sregex_iterator(found.begin(), found.end(), face); it != std::sregex_iterator(); ++it) {
            std::cout << "identify: " << (*it)[2] << " similarity=" << (*it)[3] << " box=[" << (*it)[1]
                      << "] person_id=" << (*it)[4] << "\n";
            if ((*it)[4] != "null") ids.push_back((*it)[4]);
        }
        for (const auto& id : ids) {
            std::string person = post(base, "/v1/people/" + id, {}, {});
            std::cout << "person " << id << ": " << first(person, R"re("name":"((?:[^"\\]|\\.)*)")re") << "\n";
        }
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        curl_global_cleanup();
        return 1;
    }
    curl_global_cleanup();
    return 0;
}
