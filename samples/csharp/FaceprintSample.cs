// faceprint HTTP API from C# with only the base class library (System.Net.Http.HttpClient).
//
// Verifies two photos, then identifies every face of a group photo:
//
//   mcs -r:System.Net.Http.dll -out:FaceprintSample.exe FaceprintSample.cs     (Mono)
//   FACEPRINT_API_KEY=fp_... mono FaceprintSample.exe http://127.0.0.1:8000 a.jpg b.jpg group.jpg
//
// (or add the file to a `dotnet new console` project.) The key is sent as
// "Authorization: Bearer <key>" (leave FACEPRINT_API_KEY unset for a keyless loopback server).
// The few JSON fields used here are read with regular expressions to stay dependency-free; use
// System.Text.Json in real code. Errors come back as {"error": {"code", "message"}, "request_id"}.

using System;
using System.IO;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;

public static class FaceprintSample
{
    static readonly HttpClient Http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };

    static string Post(string baseUrl, string route, string[][] files, string[][] fields)
    {
        using (var form = new MultipartFormDataContent())
        {
            foreach (var f in fields)
                form.Add(new StringContent(f[1]), f[0]);
            foreach (var f in files)
            {
                var content = new ByteArrayContent(File.ReadAllBytes(f[1]));
                content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                form.Add(content, f[0], Path.GetFileName(f[1]));
            }
            var response = Http.PostAsync(baseUrl.TrimEnd('/') + route, form).Result;
            var body = response.Content.ReadAsStringAsync().Result;
            if ((int)response.StatusCode >= 400)
                throw new Exception("HTTP " + (int)response.StatusCode + ": " + First(body, "\"message\":\"((?:[^\"\\\\]|\\\\.)*)\""));
            return body;
        }
    }

    static string Get(string baseUrl, string route)
    {
        var response = Http.GetAsync(baseUrl.TrimEnd('/') + route).Result;
        var body = response.Content.ReadAsStringAsync().Result;
        if ((int)response.StatusCode >= 400)
            throw new Exception("HTTP " + (int)response.StatusCode + ": " + First(body, "\"message\":\"((?:[^\"\\\\]|\\\\.)*)\""));
        return body;
    }

    static string First(string json, string pattern)
    {
        var m = Regex.Match(json, pattern);
        return m.Success ? m.Groups[1].Value : "";
    }

    public static int Main(string[] args)
    {
        if (args.Length != 4)
        {
            Console.Error.WriteLine("usage: FaceprintSample BASE_URL PHOTO_A PHOTO_B GROUP_PHOTO");
            return 2;
        }
        var key = Environment.GetEnvironmentVariable("FACEPRINT_API_KEY");
        if (!string.IsNullOrEmpty(key))
            Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);

        var verified = Post(args[0], "/v1/verify",
            new[] { new[] { "image_a", args[1] }, new[] { "image_b", args[2] } }, new string[0][]);
        Console.WriteLine("verify: similarity=" + First(verified, "\"similarity\":(-?[0-9.eE+-]+)")
            + " same=" + First(verified, "\"same\":(true|false)"));

        var found = Post(args[0], "/v1/identify",
            new[] { new[] { "image", args[3] } }, new[] { new[] { "top_k", "3" } });
        var face = new Regex("\"box\":\\[([^\\]]*)\\],\"label\":\"((?:[^\"\\\\]|\\\\.)*)\",\"similarity\":(-?[0-9.eE+-]+|null),\"person_id\":([0-9]+|null)");
        var ids = new System.Collections.Generic.List<string>();
        foreach (Match m in face.Matches(found))
        {
            Console.WriteLine("identify: " + m.Groups[2].Value + " similarity=" + m.Groups[3].Value + " box=[" + m.Groups[1].Value + "] person_id=" + m.Groups[4].Value);
            if (m.Groups[4].Value != "null") ids.Add(m.Groups[4].Value);
        }
        // people are addressed by id (names are data, never part of a URL)
        foreach (var id in ids)
            Console.WriteLine("person " + id + ": " + First(Get(args[0], "/v1/people/" + id), "\"name\":\"((?:[^\"\\\\]|\\\\.)*)\""));
        return 0;
    }
}
