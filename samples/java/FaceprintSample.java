// faceprint HTTP API from Java 11+ with only the standard library (java.net.http).
//
// Verifies two photos, then identifies every face of a group photo:
//
//   javac -d build FaceprintSample.java
//   FACEPRINT_API_KEY=fp_... java -cp build FaceprintSample http://127.0.0.1:8000 a.jpg b.jpg group.jpg
//
// The key is sent as "Authorization: Bearer <key>" (leave FACEPRINT_API_KEY unset for a keyless
// loopback server). Images are uploaded as multipart/form-data; answers are JSON (the few fields
// used here are read with regular expressions to stay dependency-free; use a JSON library in
// real code). Errors come back as {"error": {"code", "message"}, "request_id"}.

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public final class FaceprintSample {
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final String baseUrl;
    private final String apiKey;

    FaceprintSample(String baseUrl, String apiKey) {
        this.baseUrl = baseUrl.replaceAll("/+$", "");
        this.apiKey = apiKey;
    }

    /** POST the files (field name -> path) and form fields to route; returns the JSON text. */
    String post(String route, Map<String, Path> files, Map<String, String> fields) throws IOException, InterruptedException {
        String boundary = "faceprint-" + UUID.randomUUID();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (Map.Entry<String, String> f : fields.entrySet()) {
            body.write(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + f.getKey()
                    + "\"\r\n\r\n" + f.getValue() + "\r\n").getBytes(StandardCharsets.UTF_8));
        }
        for (Map.Entry<String, Path> f : files.entrySet()) {
            body.write(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + f.getKey()
                    + "\"; filename=\"" + f.getValue().getFileName() + "\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                    .getBytes(StandardCharsets.UTF_8));
            body.write(Files.readAllBytes(f.getValue()));
            body.write("\r\n".getBytes(StandardCharsets.UTF_8));
        }
        body.write(("--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(baseUrl + route))
                .timeout(Duration.ofMinutes(2))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray()));
        if (apiKey != null && !apiKey.isEmpty()) {
            request.header("Authorization", "Bearer " + apiKey);
        }
        HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        if (response.statusCode() >= 400) {
            throw new IOException("HTTP " + response.statusCode() + ": " + first(response.body(), "\"message\":\"((?:[^\"\\\\]|\\\\.)*)\""));
        }
        return response.body();
    }

    /** GET route; returns the JSON text. */
    String get(String route) throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(baseUrl + route)).timeout(Duration.ofMinutes(2)).GET();
        if (apiKey != null && !apiKey.isEmpty()) {
            request.header("Authorization", "Bearer " + apiKey);
        }
        HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        if (response.statusCode() >= 400) {
            throw new IOException("HTTP " + response.statusCode() + ": " + first(response.body(), "\"message\":\"((?:[^\"\\\\]|\\\\.)*)\""));
        }
        return response.body();
    }

    static String first(String json, String regex) {
        Matcher m = Pattern.compile(regex).matcher(json);
        return m.find() ? m.group(1) : "";
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: FaceprintSample BASE_URL PHOTO_A PHOTO_B GROUP_PHOTO");
            System.exit(2);
        }
        FaceprintSample fp = new FaceprintSample(args[0], System.getenv("FACEPRINT_API_KEY"));

        Map<String, Path> pair = new LinkedHashMap<>();
        pair.put("image_a", Path.of(args[1]));
        pair.put("image_b", Path.of(args[2]));
        String verified = fp.post("/v1/verify", pair, Map.of());
        System.out.println("verify: similarity=" + first(verified, "\"similarity\":(-?[0-9.eE+-]+)")
                + " same=" + first(verified, "\"same\":(true|false)"));

        String found = fp.post("/v1/identify", Map.of("image", Path.of(args[3])), Map.of("top_k", "3"));
        Matcher face = Pattern.compile("\"box\":\\[([^\\]]*)\\],\"label\":\"((?:[^\"\\\\]|\\\\.)*)\",\"similarity\":(-?[0-9.eE+-]+|null),\"person_id\":([0-9]+|null)").matcher(found);
        java.util.List<String> ids = new java.util.ArrayList<>();
        while (face.find()) {
            System.out.println("identify: " + face.group(2) + " similarity=" + face.group(3) + " box=[" + face.group(1) + "] person_id=" + face.group(4));
            if (!face.group(4).equals("null")) ids.add(face.group(4));
        }
        // people are addressed by id (names are data, never part of a URL)
        for (String id : ids) {
            String person = fp.get("/v1/people/" + id);
            System.out.println("person " + id + ": " + first(person, "\"name\":\"((?:[^\"\\\\]|\\\\.)*)\""));
        }
    }
}
