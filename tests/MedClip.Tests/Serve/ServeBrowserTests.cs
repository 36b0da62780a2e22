using System.Net;
using System.Text.Json;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace MedClip.Tests.Serve;

/// <summary>
/// The web app in a real browser: Debian's headless Chromium driven by its chromedriver (both in /usr/bin; .ci/run
/// installs them). Screenshots of each step go to screenshots/ in the test output folder.
/// </summary>
public sealed class ServeBrowserTests(ServedIndex served) : IClassFixture<ServedIndex>, IDisposable
{
    private static readonly string Screenshots = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "screenshots")).FullName;
    private readonly string _profile = Directory.CreateTempSubdirectory("medclip-chromium-").FullName;
    private ChromeDriver? _browser;

    private ChromeDriver Browser => _browser ??= Start();

    private ChromeDriver Start()
    {
        var options = new ChromeOptions { BinaryLocation = "/usr/bin/chromium" };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1100,760", $"--user-data-dir={_profile}");
        var service = ChromeDriverService.CreateDefaultService("/usr/bin", "chromedriver");
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        return new ChromeDriver(service, options, TimeSpan.FromSeconds(120));
    }

    public void Dispose()
    {
        _browser?.Quit();
        Directory.Delete(_profile, recursive: true);
    }

    private T Wait<T>(Func<IWebDriver, T?> until) where T : class => Waiting().Until(until)!;

    private void WaitFor(Func<IWebDriver, bool> until) => Waiting().Until(until);

    // The curves page redraws every few seconds, so an element found a moment ago may have been replaced: look again.
    private WebDriverWait Waiting()
    {
        var wait = new WebDriverWait(Browser, TimeSpan.FromSeconds(60));
        wait.IgnoreExceptionTypes(typeof(StaleElementReferenceException));
        return wait;
    }

    private bool Script(string code) => ((IJavaScriptExecutor)Browser).ExecuteScript(code) is true;

    private void Screenshot(string name) => Browser.GetScreenshot().SaveAsFile(Path.Combine(Screenshots, name + ".png"));

    [Fact]
    public void SearchOpenUploadAndCurves_InHeadlessChromium()
    {
        Browser.Navigate().GoToUrl(served.Url);
        Browser.FindElement(By.Id("query")).SendKeys("pleural effusion" + Keys.Enter);
        var tiles = Wait(b => b.FindElements(By.CssSelector("#results .tile")) is { Count: > 0 } t ? t : null);
        Assert.Equal(Math.Min(24, served.Run.Images.Length), tiles.Count);
        var scores = tiles.Select(t => double.Parse(t.FindElement(By.ClassName("score")).Text, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(scores.OrderByDescending(s => s), scores);
        WaitFor(_ => Script("return [...document.querySelectorAll('#results img')].every(i => i.complete && i.naturalWidth > 0)"));
        Screenshot("1-search");

        Browser.FindElement(By.Id("upload")).SendKeys(served.Run.Images[0]);
        Browser.FindElement(By.CssSelector("#upload-form button")).Click();
        var bars = Wait(b => b.FindElements(By.CssSelector("#bars .bar-row")) is { Count: > 0 } r ? r : null);
        Assert.Equal(13, bars.Count);
        Assert.Equal("Atelectasis", bars[0].GetAttribute("data-label"));
        foreach (var bar in bars)
        {
            double p = double.Parse(bar.GetAttribute("data-probability")!, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(p, 0, 1);
            Assert.Contains($"{100 * p:F1}%", bar.Text);
        }
        Assert.Contains("no atelectasis", bars[0].FindElement(By.ClassName("prompts")).Text);
        Screenshot("2-search-and-upload");

        string first = tiles[0].GetAttribute("data-path")!;
        tiles[0].Click();
        WaitFor(b => b.FindElement(By.Id("detail-report")).Text.Length > 0 && b.FindElements(By.CssSelector("#similar .tile")).Count > 0);
        Assert.Equal(first, Browser.FindElement(By.Id("detail-path")).Text);
        Assert.Contains("FINDINGS", Browser.FindElement(By.Id("detail-report")).Text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(first, Browser.FindElements(By.CssSelector("#similar .tile")).Select(t => t.GetAttribute("data-path")));
        WaitFor(_ => Script("const i = document.getElementById('detail-image'); return i.complete && i.naturalWidth > 0"));
        Screenshot("3-image");

        string garbage = Path.Combine(served.Run.Directory, "not-an-image.png");
        File.WriteAllText(garbage, "plain text");
        Browser.FindElement(By.Id("upload")).SendKeys(garbage);
        Browser.FindElement(By.CssSelector("#upload-form button")).Click();
        var status = Wait(b => b.FindElement(By.Id("upload-status")) is var s && s.GetAttribute("class")!.Contains("error") ? s : null);
        Assert.Contains("not-an-image.png", status.Text);
        Assert.Empty(Browser.FindElements(By.CssSelector("#bars .bar-row")));
        Screenshot("4-bad-upload");

        Browser.Navigate().GoToUrl(served.Url + "/curves");
        string count = Wait(b => b.FindElements(By.CssSelector("#loss-chart polyline[data-series=loss]")).FirstOrDefault()?.GetAttribute("data-count"));
        Assert.Equal("3", count);
        Assert.Single(Browser.FindElements(By.CssSelector("#scale-chart polyline[data-series=logit_scale]")));
        Assert.Contains("metrics.jsonl", Browser.FindElement(By.Id("curves-status")).Text);
        Screenshot("5-curves");

        File.AppendAllText(Path.Combine(served.Run.RunFolder, "metrics.jsonl"), "{\"step\":4,\"loss\":1.5,\"logit_scale\":20}\n");
        WaitFor(b => b.FindElements(By.CssSelector("#loss-chart polyline[data-series=loss]")).FirstOrDefault()?.GetAttribute("data-count") == "4");
    }

    [Fact]
    public async Task PathsOutsideTheIndex_OversizedUploads_AndBadRequests_AreJsonErrors()
    {
        using var http = new HttpClient { BaseAddress = new Uri(served.Url) };
        foreach (string path in new[] { "../../etc/passwd", "/etc/passwd", "p10/../../data/mimic-cxr-2.0.0-split.csv", "" })
        {
            var response = await http.GetAsync("/api/image?path=" + Uri.EscapeDataString(path));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Contains("is not an image of this index", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
        }
        using var big = new MultipartFormDataContent { { new ByteArrayContent(new byte[2 * 1024 * 1024]), "image", "big.jpg" } };
        var tooLarge = await http.PostAsync("/api/classify", big);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        Assert.Contains("larger than 1 MB", await tooLarge.Content.ReadAsStringAsync());
        var notAForm = await http.PostAsync("/api/classify", new StringContent("x"));
        Assert.Equal(HttpStatusCode.BadRequest, notAForm.StatusCode);
        var emptyQuery = await http.GetAsync("/api/search?q=");
        Assert.Equal(HttpStatusCode.BadRequest, emptyQuery.StatusCode);
        Assert.DoesNotContain("   at ", await emptyQuery.Content.ReadAsStringAsync());
    }
}
