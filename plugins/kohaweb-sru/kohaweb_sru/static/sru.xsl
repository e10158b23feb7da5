<?xml version="1.0" encoding="UTF-8"?>
<!--
  kohaweb's default stylesheet for SRU 1.1 / 1.2 responses (sru.stylesheet = default, or a request's
  stylesheet=<this file's URL>): a browser that opens a response shows it as a page. Explain,
  searchRetrieve (the records' titles in MARCXML MARC21 and UNIMARC, Dublin Core and MODS, the
  records, previous and next pages), scan (each term a search) and diagnostics, with a search form.
  Links are relative to the response's own address (an SRU response does not carry it).
  XSLT 1.0 (what browsers run); no external resources. GPL-3.0-or-later, part of kohaweb-sru.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:zs="http://www.loc.gov/zing/srw/"
    xmlns:diag="http://www.loc.gov/zing/srw/diagnostic/"
    xmlns:ex="http://explain.z3950.org/dtd/2.0/"
    xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:marc="http://www.loc.gov/MARC21/slim"
    xmlns:mods="http://www.loc.gov/mods/v3"
    exclude-result-prefixes="zs diag ex oai_dc dc marc mods">

  <xsl:output method="html" encoding="UTF-8" indent="no" doctype-system="about:legacy-compat"/>

  <xsl:variable name="echo" select="/*/zs:echoedSearchRetrieveRequest"/>
  <xsl:variable name="version">
    <xsl:choose>
      <xsl:when test="/*/zs:version"><xsl:value-of select="/*/zs:version"/></xsl:when>
      <xsl:otherwise>1.1</xsl:otherwise>
    </xsl:choose>
  </xsl:variable>
  <!-- the arguments a further page keeps: schema, packing, page size, sort, stylesheet -->
  <xsl:variable name="kept">
    <xsl:for-each select="$echo/zs:recordSchema | $echo/zs:recordPacking | $echo/zs:maximumRecords
                          | $echo/zs:sortKeys | $echo/zs:stylesheet">
      <xsl:text>&amp;</xsl:text><xsl:value-of select="local-name()"/><xsl:text>=</xsl:text>
      <xsl:call-template name="encode"><xsl:with-param name="text" select="."/></xsl:call-template>
    </xsl:for-each>
  </xsl:variable>

  <xsl:template match="/">
    <html lang="en">
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>
          <xsl:text>SRU </xsl:text>
          <xsl:choose>
            <xsl:when test="zs:searchRetrieveResponse">search: <xsl:value-of select="$echo/zs:query"/></xsl:when>
            <xsl:when test="zs:scanResponse">scan</xsl:when>
            <xsl:otherwise>explain</xsl:otherwise>
          </xsl:choose>
        </title>
        <style>
          body { font: 16px/1.45 system-ui, sans-serif; margin: 0; color: #1d2327; background: #fff; }
          header, main { max-width: 62rem; margin: 0 auto; padding: 0 1rem; }
          header { border-bottom: 1px solid #ccd0d4; padding-top: .5rem; padding-bottom: .5rem; }
          form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
          input[type=search] { flex: 1 1 16rem; min-width: 0; font: inherit; padding: .3rem; }
          button { font: inherit; }
          a { color: #0b57a4; }
          a:focus, input:focus, button:focus { outline: 2px solid #0b57a4; outline-offset: 2px; }
          h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 1.5rem; }
          table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
          th, td { text-align: left; vertical-align: top; border-bottom: 1px solid #e2e4e7; padding: .3rem .5rem; }
          th { background: #f6f7f7; }
          code, td, pre { overflow-wrap: anywhere; white-space: pre-wrap; }
          .record { border: 1px solid #ccd0d4; border-radius: 4px; padding: .5rem 1rem; margin: 1rem 0; }
          .record h3 { margin: .25rem 0; font-size: 1.1rem; }
          .error { border-left: 4px solid #b32d2e; background: #fcf0f1; padding: .5rem 1rem; }
          .meta { color: #50575e; font-size: .9rem; }
          .pages { display: flex; gap: 1.5rem; font-size: 1.1rem; margin: 1.5rem 0; }
          details summary { cursor: pointer; }
        </style>
      </head>
      <body>
        <header>
          <form method="get" role="search">
            <input type="hidden" name="version" value="{$version}"/>
            <input type="hidden" name="operation" value="searchRetrieve"/>
            <xsl:for-each select="$echo/zs:recordSchema | $echo/zs:maximumRecords | $echo/zs:stylesheet">
              <input type="hidden" name="{local-name()}" value="{.}"/>
            </xsl:for-each>
            <label for="query">CQL query</label>
            <input type="search" id="query" name="query" value="{$echo/zs:query}"/>
            <button type="submit">Search</button>
            <a href="?version={$version}&amp;operation=explain">Explain</a>
          </form>
        </header>
        <main>
          <xsl:apply-templates select="*"/>
        </main>
      </body>
    </html>
  </xsl:template>

  <!-- diagnostics: of the response, or in place of a record -->
  <xsl:template match="zs:diagnostics">
    <section class="error" aria-labelledby="diagnostics">
      <h2 id="diagnostics">Diagnostics</h2>
      <ul><xsl:apply-templates select="diag:diagnostic"/></ul>
    </section>
  </xsl:template>

  <xsl:template match="diag:diagnostic">
    <li>
      <xsl:value-of select="diag:message"/>
      <xsl:if test="diag:details"><xsl:text>: </xsl:text><code><xsl:value-of select="diag:details"/></code></xsl:if>
      <xsl:text> </xsl:text><span class="meta">(<xsl:value-of select="diag:uri"/>)</span>
    </li>
  </xsl:template>

  <xsl:template match="zs:explainResponse">
    <xsl:variable name="info" select="zs:record/zs:recordData/ex:explain"/>
    <h1>
      <xsl:choose>
        <xsl:when test="$info/ex:databaseInfo/ex:title"><xsl:value-of select="$info/ex:databaseInfo/ex:title"/></xsl:when>
        <xsl:otherwise>SRU server</xsl:otherwise>
      </xsl:choose>
    </h1>
    <xsl:apply-templates select="zs:diagnostics"/>
    <p><xsl:value-of select="$info/ex:databaseInfo/ex:description"/></p>
    <p class="meta">
      <xsl:text>SRU </xsl:text><xsl:value-of select="$version"/>
      <xsl:for-each select="$info/ex:serverInfo">
        <xsl:text> · </xsl:text><xsl:value-of select="ex:host"/>:<xsl:value-of select="ex:port"/>/<xsl:value-of select="ex:database"/>
      </xsl:for-each>
    </p>
    <xsl:if test="$info/ex:indexInfo/ex:index">
      <h2>Indexes</h2>
      <table>
        <thead><tr><th scope="col">Index</th><th scope="col">Title</th><th scope="col">Scan</th></tr></thead>
        <tbody>
          <xsl:for-each select="$info/ex:indexInfo/ex:index">
            <xsl:variable name="name" select="concat(ex:map[1]/ex:name/@set, '.', ex:map[1]/ex:name)"/>
            <tr>
              <td><code><xsl:value-of select="$name"/></code></td>
              <td><xsl:value-of select="ex:title"/></td>
              <td><a>
                <xsl:attribute name="href">
                  <xsl:text>?version=</xsl:text><xsl:value-of select="$version"/>
                  <xsl:text>&amp;operation=scan&amp;scanClause=</xsl:text>
                  <xsl:call-template name="encode"><xsl:with-param name="text" select="concat($name, '=a')"/></xsl:call-template>
                </xsl:attribute>
                <xsl:text>terms</xsl:text></a></td>
            </tr>
          </xsl:for-each>
        </tbody>
      </table>
    </xsl:if>
    <xsl:if test="$info/ex:schemaInfo/ex:schema">
      <h2>Record schemas</h2>
      <table>
        <thead><tr><th scope="col">Name</th><th scope="col">Title</th><th scope="col">Identifier</th></tr></thead>
        <tbody>
          <xsl:for-each select="$info/ex:schemaInfo/ex:schema">
            <tr><td><code><xsl:value-of select="@name"/></code></td><td><xsl:value-of select="ex:title"/></td>
              <td><xsl:value-of select="@identifier"/></td></tr>
          </xsl:for-each>
        </tbody>
      </table>
    </xsl:if>
  </xsl:template>

  <xsl:template match="zs:searchRetrieveResponse">
    <xsl:variable name="total" select="number(zs:numberOfRecords)"/>
    <xsl:variable name="first" select="number(zs:records/zs:record[1]/zs:recordPosition)"/>
    <h1>Search results</h1>
    <p class="meta">
      <code><xsl:value-of select="$echo/zs:query"/></code><xsl:text>: </xsl:text>
      <xsl:value-of select="zs:numberOfRecords"/><xsl:text> records</xsl:text>
      <xsl:if test="zs:records/zs:record">
        <xsl:text>, </xsl:text><xsl:value-of select="$first"/><xsl:text> to </xsl:text>
        <xsl:value-of select="zs:records/zs:record[last()]/zs:recordPosition"/><xsl:text> shown</xsl:text>
      </xsl:if>
    </p>
    <xsl:apply-templates select="zs:diagnostics"/>
    <xsl:apply-templates select="zs:records/zs:record"/>
    <xsl:variable name="size" select="count(zs:records/zs:record)"/>
    <xsl:if test="zs:nextRecordPosition or $first &gt; 1">
      <nav class="pages" aria-label="Pages">
        <xsl:if test="$first &gt; 1">
          <xsl:variable name="page">
            <xsl:choose>
              <xsl:when test="$echo/zs:maximumRecords &gt; 0"><xsl:value-of select="$echo/zs:maximumRecords"/></xsl:when>
              <xsl:otherwise><xsl:value-of select="$size"/></xsl:otherwise>
            </xsl:choose>
          </xsl:variable>
          <xsl:variable name="previous" select="$first - $page"/>
          <a rel="prev" class="previous">
            <xsl:attribute name="href">
              <xsl:call-template name="search-href"/>
              <xsl:text>&amp;startRecord=</xsl:text>
              <xsl:choose><xsl:when test="$previous &gt; 1"><xsl:value-of select="$previous"/></xsl:when><xsl:otherwise>1</xsl:otherwise></xsl:choose>
            </xsl:attribute>
            <xsl:text>Previous page</xsl:text>
          </a>
        </xsl:if>
        <xsl:if test="zs:nextRecordPosition">
          <a rel="next" class="next">
            <xsl:attribute name="href">
              <xsl:call-template name="search-href"/>
              <xsl:text>&amp;startRecord=</xsl:text><xsl:value-of select="zs:nextRecordPosition"/>
            </xsl:attribute>
            <xsl:text>Next page</xsl:text>
          </a>
        </xsl:if>
      </nav>
    </xsl:if>
    <xsl:if test="$total = 0"><p>No records match.</p></xsl:if>
  </xsl:template>

  <xsl:template name="search-href">
    <xsl:text>?version=</xsl:text><xsl:value-of select="$version"/>
    <xsl:text>&amp;operation=searchRetrieve&amp;query=</xsl:text>
    <xsl:call-template name="encode"><xsl:with-param name="text" select="$echo/zs:query"/></xsl:call-template>
    <xsl:value-of select="$kept"/>
  </xsl:template>

  <xsl:template match="zs:record">
    <article class="record">
      <xsl:choose>
        <xsl:when test="zs:recordData/diag:diagnostic">
          <h3>Record <xsl:value-of select="zs:recordPosition"/> could not be shown</h3>
          <ul class="error"><xsl:apply-templates select="zs:recordData/diag:diagnostic"/></ul>
        </xsl:when>
        <xsl:when test="zs:recordPacking = 'string'">
          <h3>Record <xsl:value-of select="zs:recordPosition"/></h3>
          <details><summary>Record as a string (<xsl:value-of select="zs:recordSchema"/>)</summary>
            <pre><xsl:value-of select="zs:recordData"/></pre></details>
        </xsl:when>
        <xsl:otherwise>
          <h3><xsl:call-template name="title"><xsl:with-param name="data" select="zs:recordData/*"/></xsl:call-template></h3>
          <p class="meta">
            <xsl:text>Record </xsl:text><xsl:value-of select="zs:recordPosition"/>
            <xsl:for-each select="zs:recordData/*/marc:controlfield[@tag='001']">
              <xsl:text> · 001 </xsl:text><xsl:value-of select="."/>
            </xsl:for-each>
          </p>
          <details><summary>Record (<xsl:value-of select="zs:recordSchema"/>)</summary>
            <xsl:apply-templates select="zs:recordData/*" mode="record"/></details>
        </xsl:otherwise>
      </xsl:choose>
    </article>
  </xsl:template>

  <xsl:template match="zs:scanResponse">
    <xsl:variable name="index" select="zs:echoedScanRequest/zs:xScanClause/zs:index"/>
    <h1>Terms of <code><xsl:value-of select="zs:echoedScanRequest/zs:scanClause"/></code></h1>
    <xsl:apply-templates select="zs:diagnostics"/>
    <table>
      <thead><tr><th scope="col">Term</th><th scope="col">Records</th></tr></thead>
      <tbody>
        <xsl:for-each select="zs:terms/zs:term">
          <tr>
            <td><a>
              <xsl:attribute name="href">
                <xsl:text>?version=</xsl:text><xsl:value-of select="$version"/>
                <xsl:text>&amp;operation=searchRetrieve&amp;query=</xsl:text>
                <xsl:call-template name="encode">
                  <xsl:with-param name="text">
                    <xsl:if test="$index"><xsl:value-of select="$index"/><xsl:text>=</xsl:text></xsl:if>
                    <xsl:text>"</xsl:text>
                    <xsl:call-template name="cql-quote"><xsl:with-param name="text" select="zs:value"/></xsl:call-template>
                    <xsl:text>"</xsl:text>
                  </xsl:with-param>
                </xsl:call-template>
              </xsl:attribute>
              <xsl:choose>
                <xsl:when test="zs:displayTerm"><xsl:value-of select="zs:displayTerm"/></xsl:when>
                <xsl:otherwise><xsl:value-of select="zs:value"/></xsl:otherwise>
              </xsl:choose>
            </a></td>
            <td><xsl:value-of select="zs:numberOfRecords"/></td>
          </tr>
        </xsl:for-each>
      </tbody>
    </table>
  </xsl:template>

  <!-- the title of a record in the usual schemas -->
  <xsl:template name="title">
    <xsl:param name="data"/>
    <xsl:choose>
      <xsl:when test="$data/descendant-or-self::dc:title">
        <xsl:value-of select="$data/descendant-or-self::dc:title[1]"/>
      </xsl:when>
      <xsl:when test="$data/descendant-or-self::marc:record/marc:datafield[@tag='245']">
        <xsl:for-each select="$data/descendant-or-self::marc:record[1]/marc:datafield[@tag='245'][1]/marc:subfield[@code='a' or @code='b' or @code='n' or @code='p']">
          <xsl:if test="position() != 1"><xsl:text> </xsl:text></xsl:if><xsl:value-of select="."/>
        </xsl:for-each>
      </xsl:when>
      <xsl:when test="$data/descendant-or-self::marc:record/marc:datafield[@tag='200']">
        <xsl:for-each select="$data/descendant-or-self::marc:record[1]/marc:datafield[@tag='200'][1]/marc:subfield[@code='a' or @code='e']">
          <xsl:if test="position() != 1"><xsl:text> : </xsl:text></xsl:if><xsl:value-of select="."/>
        </xsl:for-each>
      </xsl:when>
      <xsl:when test="$data/descendant-or-self::mods:titleInfo/mods:title">
        <xsl:value-of select="$data/descendant-or-self::mods:titleInfo[mods:title][1]/mods:title"/>
        <xsl:for-each select="$data/descendant-or-self::mods:titleInfo[mods:title][1]/mods:subTitle">
          <xsl:text>: </xsl:text><xsl:value-of select="."/>
        </xsl:for-each>
      </xsl:when>
      <xsl:when test="$data//*[local-name() = 'title']">
        <xsl:value-of select="$data//*[local-name() = 'title'][1]"/>
      </xsl:when>
      <xsl:otherwise>(untitled)</xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="marc:record" mode="record">
    <table><tbody>
      <tr><th scope="row">LDR</th><td><code><xsl:value-of select="marc:leader"/></code></td></tr>
      <xsl:for-each select="marc:controlfield">
        <tr><th scope="row"><xsl:value-of select="@tag"/></th><td><code><xsl:value-of select="."/></code></td></tr>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield">
        <tr>
          <th scope="row"><xsl:value-of select="@tag"/>
            <xsl:text> </xsl:text><xsl:value-of select="translate(concat(@ind1, @ind2), ' ', '_')"/></th>
          <td><xsl:for-each select="marc:subfield">
            <b>$<xsl:value-of select="@code"/></b><xsl:text> </xsl:text><xsl:value-of select="."/><xsl:text> </xsl:text>
          </xsl:for-each></td>
        </tr>
      </xsl:for-each>
    </tbody></table>
  </xsl:template>

  <!-- Dublin Core, MODS and anything else: each element that has text, as name and value -->
  <xsl:template match="*" mode="record">
    <table><tbody>
      <xsl:for-each select="descendant-or-self::*[text()[normalize-space()]]">
        <tr><th scope="row"><xsl:value-of select="local-name()"/></th>
          <td><xsl:value-of select="normalize-space(text()[normalize-space()][1])"/></td></tr>
      </xsl:for-each>
    </tbody></table>
  </xsl:template>

  <!-- a term inside a CQL quoted string: backslash before " and \ -->
  <xsl:template name="cql-quote">
    <xsl:param name="text"/>
    <xsl:choose>
      <xsl:when test="translate($text, '&quot;\', '') = $text"><xsl:value-of select="$text"/></xsl:when>
      <xsl:otherwise>
        <xsl:variable name="c" select="substring($text, 1, 1)"/>
        <xsl:if test="$c = '&quot;' or $c = '\'">\</xsl:if>
        <xsl:value-of select="$c"/>
        <xsl:call-template name="cql-quote"><xsl:with-param name="text" select="substring($text, 2)"/></xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- percent-encodes what would break a query string argument (XSLT 1.0 has no encode-for-uri) -->
  <xsl:variable name="unsafe">%&amp;+#?=/;" &lt;&gt;</xsl:variable>
  <xsl:template name="encode">
    <xsl:param name="text"/>
    <xsl:choose>
      <xsl:when test="translate($text, $unsafe, '') = $text"><xsl:value-of select="$text"/></xsl:when>
      <xsl:otherwise>
        <xsl:variable name="c" select="substring($text, 1, 1)"/>
        <xsl:choose>
          <xsl:when test="$c = '%'">%25</xsl:when>
          <xsl:when test="$c = '&amp;'">%26</xsl:when>
          <xsl:when test="$c = '+'">%2B</xsl:when>
          <xsl:when test="$c = '#'">%23</xsl:when>
          <xsl:when test="$c = '?'">%3F</xsl:when>
          <xsl:when test="$c = '='">%3D</xsl:when>
          <xsl:when test="$c = '/'">%2F</xsl:when>
          <xsl:when test="$c = ';'">%3B</xsl:when>
          <xsl:when test="$c = '&quot;'">%22</xsl:when>
          <xsl:when test="$c = ' '">%20</xsl:when>
          <xsl:when test="$c = '&lt;'">%3C</xsl:when>
          <xsl:when test="$c = '&gt;'">%3E</xsl:when>
          <xsl:otherwise><xsl:value-of select="$c"/></xsl:otherwise>
        </xsl:choose>
        <xsl:call-template name="encode"><xsl:with-param name="text" select="substring($text, 2)"/></xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>
</xsl:stylesheet>
