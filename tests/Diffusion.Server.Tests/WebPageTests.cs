using Microsoft.Playwright;

namespace Diffusion.Server.Tests;

/// <summary>A fact that runs only where Debian's Chromium is installed (<c>apt-get install chromium</c>; .ci/run does it).</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public const string Chromium = "/usr/bin/chromium";

    public ChromiumFactAttribute()
    {
        if (!File.Exists(Chromium)) Skip = $"{Chromium} is not installed (apt-get install chromium): the web page test needs a real browser.";
    }
}

public sealed class WebPageTests
{
    [ChromiumFact]
    [Trait("Category", "Slow")]
    public async Task ChoosingDigit7AndClickingGenerateShowsTheImagesAndTheAnimation()
    {
        var (server, client) = await TestServer.StartAsync();
        await using var _ = server;
        using var __ = client;
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumFactAttribute.Chromium,
            Headless = true,
            Args = ["--no-sandbox"], // CI runs as root
        });
        // A phone-sized window: the page must work there.
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 390, Height = 844 } });
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text); };
        page.PageError += (_, e) => errors.Add(e);

        await page.GotoAsync(server.Address.ToString());
        await page.WaitForSelectorAsync("#class option[value=\"7\"]", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached });
        await page.SelectOptionAsync("#class", "7");
        await page.FillAsync("#steps", "10");
        await page.FillAsync("#count", "4");
        await page.ClickAsync("#generate");
        await page.WaitForFunctionAsync("() => document.getElementById('grid').naturalWidth > 0", null, new PageWaitForFunctionOptions { Timeout = 30_000 });

        Assert.Equal("Done.", await page.TextContentAsync("#status"));
        Assert.StartsWith("data:image/png;base64,", await page.GetAttributeAsync("#grid", "src"));
        Assert.StartsWith("data:image/gif;base64,", await page.GetAttributeAsync("#animation", "src"));
        Assert.Contains("10 steps", await page.TextContentAsync("#params"));
        Assert.Equal(1, server.Stats[TestServer.ModelName].Completed);
        Assert.True(errors.Count == 0, string.Join("; ", errors));

        var artefacts = Path.Combine(AppContext.BaseDirectory, "artefacts");
        Directory.CreateDirectory(artefacts);
        var shot = Path.Combine(artefacts, "web-page.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
        Assert.True(new FileInfo(shot).Length > 1000);
    }
}
